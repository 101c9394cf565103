//! Host patterns in policies: exact, `*.suffix` (strict sub-domains), or `*` (any host).

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Any,
    Exact(String),
    /// Stored as `.suffix`, so a match is a plain `ends_with`.
    Subdomains(String),
}

impl HostPattern {
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(dot_suffix) => host.ends_with(dot_suffix.as_str()) && host.len() > dot_suffix.len(),
        }
    }
}

impl FromStr for HostPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "*" {
            return Ok(HostPattern::Any);
        }
        let (body, pattern): (&str, fn(String) -> HostPattern) = match s.strip_prefix("*.") {
            Some(rest) => (rest, |r| HostPattern::Subdomains(format!(".{r}"))),
            None => (s.as_str(), HostPattern::Exact),
        };
        if body.is_empty() || body.contains('*') || body.contains('/') {
            return Err(format!("bad host pattern {s:?} (expected host, *.suffix or *)"));
        }
        Ok(pattern(body.trim_end_matches('.').to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p: HostPattern = "*.githubcopilot.com".parse().unwrap_or(HostPattern::Any);
        assert!(p.matches("api.githubcopilot.com"));
        assert!(!p.matches("githubcopilot.com"));
        assert!(!p.matches("evilgithubcopilot.com"));
        assert!("*.".parse::<HostPattern>().is_err());
    }
}
