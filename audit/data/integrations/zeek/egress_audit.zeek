##! egress-audit's judgement in Zeek logs: tags ssl.log, dns.log, http.log and quic.log records with
##! the egress class, tool and policy verdict of the name they carry.
##!
##! 1. `egress-audit catalog export --format zeek-intel --profile NAME --output egress-audit.intel`
##! 2. `@load /path/to/integrations/zeek` in local.zeek, and
##!    `redef EgressAudit::intel_file = "/path/to/egress-audit.intel";`
##!    `redef EgressAudit::unknown_verdict = "warn";`  (the policy's [unknown] verdict, printed in the file)
##! 3. Optional: `redef Intel::read_files += { "/path/to/egress-audit.intel" };` for intel.log hits on
##!    exact names (the file is a valid Intel framework file; its `.x` rows never match there).
##!
##! Every node (workers included) reads the file with the Input framework and judges locally, so a
##! cluster needs no round trip to the manager. The file is re-read when it changes (REREAD).
##!
##! Matching follows egress-audit's catalog lookup: the exact name first, then its parents from the
##! longest (`*.x` rules are the rows with egress_match "subdomains"); then, for HTTP, the longest
##! path prefix of that pattern. Zeek's Intel framework matches indicators exactly, hence this walk.
##!
##! Not tested by Zeek in egress-audit's CI (Zeek is not packaged in Debian); the intel file is.

@load base/frameworks/input
@load base/frameworks/intel
@load base/protocols/ssl
@load base/protocols/dns
@load base/protocols/http

module EgressAudit;

export {
	## The file written by `egress-audit catalog export --format zeek-intel`.
	const intel_file = "egress-audit.intel" &redef;

	## Verdict for names the catalog does not know: the policy's [unknown] verdict.
	const unknown_verdict = "warn" &redef;

	## egress-audit's answer for one name (and path).
	type Judgement: record {
		egress_class: string;
		egress_tool: string &optional;
		egress_verdict: string;
		egress_rule: string &optional;
	};

	## The judgement for a host (lowercase, no port) and an HTTP path ("" when unknown).
	global judge: function(host: string, path: string): Judgement;
}

redef record Intel::MetaData += {
	egress_class: string &optional;
	egress_tool: string &optional;
	egress_verdict: string &optional;
	egress_host: string &optional;
	egress_match: string &optional;
	egress_path: string &optional;
	egress_rule: string &optional;
	egress_policy: string &optional;
};

redef record SSL::Info += {
	egress_class: string &log &optional;
	egress_tool: string &log &optional;
	egress_verdict: string &log &optional;
};

redef record DNS::Info += {
	egress_class: string &log &optional;
	egress_tool: string &log &optional;
	egress_verdict: string &log &optional;
};

redef record HTTP::Info += {
	egress_class: string &log &optional;
	egress_tool: string &log &optional;
	egress_verdict: string &log &optional;
};

@ifdef ( QUIC::Info )
redef record QUIC::Info += {
	egress_class: string &log &optional;
	egress_tool: string &log &optional;
	egress_verdict: string &log &optional;
};
@endif

type PathRule: record {
	prefix: string;
	meta: Intel::MetaData;
};

# Pattern keys are "exact:NAME" or "subdomains:NAME". A pattern with only path rules still shadows
# its parents, as in the catalog.
global patterns: set[string] = set();
global host_rules: table[string] of Intel::MetaData = table();
global path_rules: table[string] of vector of PathRule = table();

# Filled while the file is read, swapped in at its end, so a re-read never shows half a file.
global next_patterns: set[string] = set();
global next_host_rules: table[string] of Intel::MetaData = table();
global next_path_rules: table[string] of vector of PathRule = table();

const stream_name = "egress-audit-intel";

event EgressAudit::entry(desc: Input::EventDescription, tp: Input::Event, item: Intel::Item)
	{
	local m = item$meta;
	if ( ! m?$egress_host || ! m?$egress_match || ! m?$egress_class || ! m?$egress_verdict )
		return;
	local key = m$egress_match + ":" + m$egress_host;
	add next_patterns[key];
	if ( m?$egress_path )
		{
		if ( key !in next_path_rules )
			next_path_rules[key] = vector();
		next_path_rules[key] += PathRule($prefix=m$egress_path, $meta=m);
		}
	else
		next_host_rules[key] = m;
	}

event Input::end_of_data(name: string, source: string)
	{
	if ( name != stream_name )
		return;
	patterns = next_patterns;
	host_rules = next_host_rules;
	path_rules = next_path_rules;
	next_patterns = set();
	next_host_rules = table();
	next_path_rules = table();
	}

event zeek_init()
	{
	Input::add_event([$source=intel_file, $reader=Input::READER_ASCII, $mode=Input::REREAD,
	                  $name=stream_name, $fields=Intel::Item, $want_record=T, $ev=EgressAudit::entry]);
	}

function pattern_of(host: string): string
	{
	local exact = "exact:" + host;
	if ( exact in patterns )
		return exact;
	local rest = host;
	while ( T )
		{
		local dot = strstr(rest, ".");
		if ( dot == 0 )
			break;
		rest = sub_bytes(rest, dot + 1, |rest| - dot);
		local sub = "subdomains:" + rest;
		if ( sub in patterns )
			return sub;
		}
	return "";
	}

function from_meta(m: Intel::MetaData): Judgement
	{
	local j = Judgement($egress_class=m$egress_class, $egress_verdict=m$egress_verdict);
	if ( m?$egress_tool )
		j$egress_tool = m$egress_tool;
	if ( m?$egress_rule )
		j$egress_rule = m$egress_rule;
	return j;
	}

function judge(host: string, path: string): Judgement
	{
	local key = pattern_of(to_lower(host));
	if ( key == "" )
		return Judgement($egress_class="unknown", $egress_verdict=unknown_verdict);
	if ( path != "" && key in path_rules )
		{
		local best = "";
		local found: Intel::MetaData;
		local have = F;
		for ( i in path_rules[key] )
			{
			local r = path_rules[key][i];
			if ( |r$prefix| > |best| && starts_with(path, r$prefix) )
				{
				best = r$prefix;
				found = r$meta;
				have = T;
				}
			}
		if ( have )
			return from_meta(found);
		}
	if ( key in host_rules )
		return from_meta(host_rules[key]);
	return Judgement($egress_class="unknown", $egress_verdict=unknown_verdict);
	}

function bare_host(h: string): string
	{
	# Host headers may carry a port; bracketed IPv6 literals are left as they are.
	if ( /^\[/ in h )
		return h;
	return to_lower(split_string1(h, /:/)[0]);
	}

hook SSL::log_policy(rec: SSL::Info, id: Log::ID, filter: Log::Filter)
	{
	if ( ! rec?$server_name )
		return;
	local j = judge(rec$server_name, "");
	rec$egress_class = j$egress_class;
	rec$egress_verdict = j$egress_verdict;
	if ( j?$egress_tool )
		rec$egress_tool = j$egress_tool;
	}

hook DNS::log_policy(rec: DNS::Info, id: Log::ID, filter: Log::Filter)
	{
	if ( ! rec?$query )
		return;
	local j = judge(rec$query, "");
	rec$egress_class = j$egress_class;
	rec$egress_verdict = j$egress_verdict;
	if ( j?$egress_tool )
		rec$egress_tool = j$egress_tool;
	}

hook HTTP::log_policy(rec: HTTP::Info, id: Log::ID, filter: Log::Filter)
	{
	if ( ! rec?$host )
		return;
	local j = judge(bare_host(rec$host), rec?$uri ? rec$uri : "");
	rec$egress_class = j$egress_class;
	rec$egress_verdict = j$egress_verdict;
	if ( j?$egress_tool )
		rec$egress_tool = j$egress_tool;
	}

@ifdef ( QUIC::Info )
hook QUIC::log_policy(rec: QUIC::Info, id: Log::ID, filter: Log::Filter)
	{
	if ( ! rec?$server_name )
		return;
	local j = judge(rec$server_name, "");
	rec$egress_class = j$egress_class;
	rec$egress_verdict = j$egress_verdict;
	if ( j?$egress_tool )
		rec$egress_tool = j$egress_tool;
	}
@endif
