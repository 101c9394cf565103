##! egress-audit for Zeek: see egress_audit.zeek.
@load ./egress_audit
