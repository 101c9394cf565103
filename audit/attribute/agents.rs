//! The agent catalog: which running processes are AI coding agents, recognized by data rules.
//!
//! The shipped rules live in `audit/data/agents.toml` (embedded at build time, format described at the
//! top of that file); users add their own files with [`AgentCatalog::add_toml`]. Parsing is strict like
//! the domain catalog's: unknown keys, unknown agents, empty or duplicate rules are errors with file and
//! line.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The shipped agent catalog.
const BUILTIN: (&str, &str) = ("agents.toml", include_str!("../data/agents.toml"));

/// Linux keeps at most this many bytes of a process name (`comm`, TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;

/// One agent the catalog knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// What reports print: `claude-code`, `codex`, …
    pub id: String,
    /// Human name: `Claude Code`.
    pub name: String,
    /// The `tool` its hosts carry in the domain catalog.
    pub tool: String,
    /// More names `--agent NAME` accepts.
    pub aliases: Vec<String>,
    pub source: String,
}

/// One recognition rule: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRule {
    /// Index into [`AgentCatalog::agents`].
    pub agent: usize,
    /// Exact process name.
    pub name: Option<String>,
    /// Exact basename of the executable.
    pub exe: Option<String>,
    /// Substring of the executable's full path.
    pub exe_path: Option<String>,
    /// Substring of the command line joined with spaces.
    pub cmdline: Option<String>,
    pub note: String,
    pub source: String,
    /// File the rule came from (`agents.toml` or the user's path) and its line.
    pub origin: Arc<str>,
    pub line: usize,
    /// Position among all rules ever added: later files win ties, so users can override.
    order: usize,
}

impl AgentRule {
    /// More conditions first, then longer patterns: the most specific rule wins.
    fn specificity(&self) -> (usize, usize, usize) {
        let parts = [&self.name, &self.exe, &self.exe_path, &self.cmdline];
        let count = parts.iter().filter(|p| p.is_some()).count();
        let len = parts.iter().filter_map(|p| p.as_ref()).map(String::len).sum();
        (count, len, self.order)
    }

    /// A short reference for reports: `agents.toml:58 cmdline~"@openai/codex"`.
    pub fn reference(&self) -> String {
        let mut s = format!("{}:{}", self.origin, self.line);
        for (key, value) in
            [("name=", &self.name), ("exe=", &self.exe), ("exe~", &self.exe_path), ("cmdline~", &self.cmdline)]
        {
            if let Some(v) = value {
                s.push_str(&format!(" {key}{v:?}"));
            }
        }
        s
    }

    fn matches(&self, p: &ProcessIdentity<'_>) -> bool {
        self.name.as_ref().is_none_or(|n| name_matches(n, p))
            && self.exe.as_ref().is_none_or(|e| p.exe.and_then(basename) == Some(e.as_str()))
            && self.exe_path.as_ref().is_none_or(|e| p.exe.is_some_and(|x| x.contains(e.as_str())))
            && self.cmdline.as_ref().is_none_or(|c| p.cmdline.contains(c.as_str()))
    }
}

fn basename(path: &str) -> Option<&str> {
    Path::new(path).file_name().and_then(|n| n.to_str())
}

/// `comm` equals the name, or the name is longer than Linux keeps and `comm` is its prefix while
/// argv[0] spells it out in full.
fn name_matches(name: &str, p: &ProcessIdentity<'_>) -> bool {
    if p.name == name {
        return true;
    }
    name.len() > COMM_LEN
        && p.name.len() == COMM_LEN
        && name.starts_with(p.name)
        && p.argv0.and_then(basename) == Some(name)
}

/// What a rule can look at in a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcessIdentity<'a> {
    /// Process name (`comm` on Linux).
    pub name: &'a str,
    /// Executable path, symlinks resolved.
    pub exe: Option<&'a str>,
    /// Command line, arguments joined with single spaces.
    pub cmdline: &'a str,
    /// First argument as written by the parent.
    pub argv0: Option<&'a str>,
}

/// Which agent and rule recognized a process (indices into the catalog that produced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentMatch {
    pub agent: usize,
    pub rule: usize,
}

/// An error in an agent catalog file, with its origin and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCatalogError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for AgentCatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent catalog {}:{}: {}", self.origin, self.line, self.message)
    }
}

impl std::error::Error for AgentCatalogError {}

/// Agents and the rules that recognize them; rules kept most specific first.
#[derive(Debug, Clone, Default)]
pub struct AgentCatalog {
    agents: Vec<Agent>,
    rules: Vec<AgentRule>,
    added: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    agent: Vec<toml::Spanned<AgentEntry>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    id: String,
    name: String,
    tool: String,
    #[serde(default)]
    aliases: Vec<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    agent: String,
    name: Option<String>,
    exe: Option<String>,
    exe_path: Option<String>,
    cmdline: Option<String>,
    note: String,
    source: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl AgentCatalog {
    /// The catalog shipped in the binary.
    pub fn builtin() -> Result<AgentCatalog, AgentCatalogError> {
        let mut c = AgentCatalog::default();
        c.add_toml(BUILTIN.1, BUILTIN.0)?;
        Ok(c)
    }

    /// Adds one catalog file. An `[[agent]]` with a known id replaces that agent's description; its
    /// rules are added to the existing ones and win ties against rules added before.
    pub fn add_toml(&mut self, text: &str, origin: &str) -> Result<(), AgentCatalogError> {
        let err = |line, message: String| AgentCatalogError { origin: origin.to_string(), line, message };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            err(line, e.message().to_string())
        })?;
        let mut agents = self.agents.clone();
        let mut seen_ids = HashSet::new();
        for spanned in file.agent {
            let line = line_of(text, spanned.span().start);
            let a = spanned.into_inner();
            if !valid_id(&a.id) {
                return Err(err(line, format!("agent id {:?} must be lowercase letters, digits and '-'", a.id)));
            }
            if !seen_ids.insert(a.id.clone()) {
                return Err(err(line, format!("agent {} appears twice in this file", a.id)));
            }
            if a.source.trim().is_empty() {
                return Err(err(line, format!("agent {} needs a source", a.id)));
            }
            let agent = Agent { id: a.id, name: a.name, tool: a.tool, aliases: a.aliases, source: a.source };
            match agents.iter_mut().find(|x| x.id == agent.id) {
                Some(slot) => *slot = agent,
                None => agents.push(agent),
            }
        }
        let origin: Arc<str> = Arc::from(origin);
        let mut rules = Vec::with_capacity(file.rule.len());
        let mut seen_rules = HashSet::new();
        for spanned in file.rule {
            let line = line_of(text, spanned.span().start);
            let r = spanned.into_inner();
            let Some(agent) = agents.iter().position(|a| a.id == r.agent) else {
                return Err(err(line, format!("rule names agent {:?}, which no [[agent]] defines", r.agent)));
            };
            let parts = [&r.name, &r.exe, &r.exe_path, &r.cmdline];
            if parts.iter().all(|p| p.is_none()) {
                return Err(err(line, "a rule needs at least one of name, exe, exe_path, cmdline".into()));
            }
            if parts.iter().any(|p| p.as_ref().is_some_and(|s| s.trim().is_empty())) {
                return Err(err(line, "rule patterns must not be empty".into()));
            }
            if r.exe.as_ref().is_some_and(|e| e.contains('/')) {
                return Err(err(line, "exe is a basename; use exe_path for a path substring".into()));
            }
            if r.source.trim().is_empty() {
                return Err(err(line, "a rule needs a source".into()));
            }
            let key = (r.agent.clone(), r.name.clone(), r.exe.clone(), r.exe_path.clone(), r.cmdline.clone());
            if !seen_rules.insert(key) {
                return Err(err(line, "this rule appears twice in this file".into()));
            }
            self.added += 1;
            rules.push(AgentRule {
                agent,
                name: r.name,
                exe: r.exe,
                exe_path: r.exe_path,
                cmdline: r.cmdline,
                note: r.note,
                source: r.source,
                origin: origin.clone(),
                line,
                order: self.added,
            });
        }
        self.agents = agents;
        self.rules.extend(rules);
        self.rules.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Ok(())
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// Rules, most specific first.
    pub fn rules(&self) -> &[AgentRule] {
        &self.rules
    }

    /// The most specific rule that recognizes this process, if any.
    pub fn identify(&self, p: &ProcessIdentity<'_>) -> Option<AgentMatch> {
        // Sorted most specific first, so the first match is the answer.
        self.rules.iter().position(|r| r.matches(p)).map(|i| AgentMatch { agent: self.rules[i].agent, rule: i })
    }

    pub fn agent(&self, m: AgentMatch) -> &Agent {
        &self.agents[m.agent]
    }

    pub fn rule(&self, m: AgentMatch) -> &AgentRule {
        &self.rules[m.rule]
    }

    /// The agent a user means by `--agent NAME`: its id, name, tool or an alias, ignoring case.
    pub fn find(&self, name: &str) -> Option<&Agent> {
        let n = name.trim();
        self.agents.iter().find(|a| a.id.eq_ignore_ascii_case(n)).or_else(|| {
            self.agents.iter().find(|a| {
                a.name.eq_ignore_ascii_case(n)
                    || a.tool.eq_ignore_ascii_case(n)
                    || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(n))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident<'a>(name: &'a str, exe: Option<&'a str>, cmdline: &'a str) -> ProcessIdentity<'a> {
        ProcessIdentity { name, exe, cmdline, argv0: cmdline.split(' ').next() }
    }

    fn id_of(c: &AgentCatalog, p: ProcessIdentity<'_>) -> Option<String> {
        c.identify(&p).map(|m| c.agent(m).id.clone())
    }

    #[test]
    fn builtin_parses_and_recognizes() {
        let c = AgentCatalog::builtin().unwrap();
        let node = Some("/usr/bin/node");
        assert_eq!(id_of(&c, ident("claude", None, "claude")), Some("claude-code".into()));
        assert_eq!(
            id_of(&c, ident("node", node, "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js")),
            Some("claude-code".into())
        );
        assert_eq!(
            id_of(&c, ident("2.1.37", Some("/home/u/.local/share/claude/versions/2.1.37"), "claude")),
            Some("claude-code".into())
        );
        assert_eq!(
            id_of(&c, ident("node", node, "node /x/node_modules/@openai/codex/bin/codex.js")),
            Some("codex".into())
        );
        assert_eq!(
            id_of(&c, ident("node", node, "node /x/node_modules/@github/copilot/index.js")),
            Some("copilot".into())
        );
        assert_eq!(
            id_of(
                &c,
                ident("node", node, "node /x/node_modules/@github/copilot-language-server/dist/language-server.js")
            ),
            Some("copilot-language-server".into())
        );
        assert_eq!(
            id_of(
                &c,
                ident("copilot-languag", Some("/opt/copilot-language-server"), "copilot-language-server --stdio")
            ),
            Some("copilot-language-server".into())
        );
        assert_eq!(id_of(&c, ident("code", Some("/usr/share/code/code"), "/usr/share/code/code --type=zygote")), None);
        assert_eq!(
            id_of(&c, ident("code", Some("/usr/share/code/code"), "/usr/share/code/code --type=extensionHost")),
            Some("vscode-extension-host".into())
        );
        assert_eq!(
            id_of(&c, ident("cursor", Some("/opt/cursor/cursor"), "/opt/cursor/cursor --type=extensionHost")),
            Some("cursor".into())
        );
        assert_eq!(
            id_of(&c, ident("node", node, "node /srv/bootstrap-fork --type=extensionHost")),
            Some("vscode-extension-host".into())
        );
        assert_eq!(id_of(&c, ident("qchat", None, "qchat chat")), Some("amazon-q".into()));
        assert_eq!(id_of(&c, ident("bash", Some("/usr/bin/bash"), "bash")), None);
        assert_eq!(c.find("Claude").map(|a| a.id.as_str()), Some("claude-code"));
        assert_eq!(c.find("gemini").map(|a| a.id.as_str()), Some("gemini-cli"));
        assert!(
            c.agents()
                .iter()
                .all(|a| c.rules().iter().any(|r| r.agent == c.agents().iter().position(|x| x == a).unwrap()))
        );
    }

    #[test]
    fn strict_with_lines() {
        let mut c = AgentCatalog::builtin().unwrap();
        let e =
            c.add_toml("[[rule]]\nagent = \"nobody\"\nname = \"x\"\nnote = \"\"\nsource = \"s\"\n", "mine.toml").err();
        assert_eq!(e.map(|e| (e.line, e.origin)), Some((1, "mine.toml".into())));
        let e = c.add_toml("[[rule]]\nagent = \"codex\"\nnote = \"\"\nsource = \"s\"\n", "mine.toml").err();
        assert!(e.is_some_and(|e| e.message.contains("at least one")));
        let e =
            c.add_toml("\n[[rule]]\nagent = \"codex\"\nnmae = \"x\"\nnote = \"\"\nsource = \"s\"\n", "m.toml").err();
        assert!(e.is_some_and(|e| e.message.contains("nmae")));
    }

    #[test]
    fn user_rules_win_ties() {
        let mut c = AgentCatalog::builtin().unwrap();
        c.add_toml(
            "[[agent]]\nid = \"mine\"\nname = \"Mine\"\ntool = \"mine\"\nsource = \"me\"\n\n[[rule]]\nagent = \"mine\"\nname = \"codex\"\nnote = \"\"\nsource = \"me\"\n",
            "mine.toml",
        )
        .unwrap();
        assert_eq!(id_of(&c, ident("codex", None, "codex")), Some("mine".into()));
    }
}
