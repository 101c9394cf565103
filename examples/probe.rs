use egress_audit::analyzer::Analyzer;
use egress_audit::source::file::read_frames;
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let mut a = Analyzer::new();
    let mut flows = Vec::new();
    let r = read_frames(std::path::Path::new(&path), &mut |f| a.push(f, &mut |fl| flows.push(fl)));
    println!("read: {:?}", r.as_ref().map(|i| (i.format, i.frames)).map_err(|e| e.1.to_string()));
    let (dns, stats) = a.finish(&mut |fl| flows.push(fl));
    println!("{stats:?}");
    for f in &flows { println!("{} {} {} -> {} {:?} {:?} names={:?}", f.id, f.proto, f.client, f.server, f.app.protocol, f.host(), f.dns_names); }
    for d in dns.records() { println!("dns {} {} q={} r={} {:?}", d.name, d.qtype, d.queries, d.responses, d.answers.len()); }
}
