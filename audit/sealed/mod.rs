//! `check --sealed`: the agent runs in a private network namespace where every host answers locally
//! ([`netns`]), our DNS gives each name its own local address ([`dns`], [`addresses`]) and the sink
//! accepts every connection, plays the model and logs every request ([`sink`]); the capture of the
//! namespace's `lo` goes through the same pipeline as any live audit, joined with the sink's log.

pub mod addresses;
pub mod canary_home;
pub mod dns;
pub mod netns;
pub mod reads;
pub mod sink;
pub mod world;

use crate::live::{self, LiveConfig, Session};
use crate::report::Report;
use crate::report::render::Renderer;
use crate::report::seen::RequestSource;
use netns::Sealed;
use world::{World, WorldOptions};

/// The world around one capture: started before the command, stopped once the capture ended, its
/// summary becoming the report's `sealed` section.
struct RunSession<'s> {
    world: Option<World>,
    sealed: &'s Sealed,
}

impl Session for RunSession<'_> {
    fn request_source(&self) -> Option<Box<dyn RequestSource + '_>> {
        self.world.as_ref().map(World::request_source)
    }

    fn finish(&mut self, report: &mut Report) {
        if let Some(world) = self.world.take() {
            let outcome = world.stop(self.sealed);
            if outcome.sink.records_dropped > 0 {
                report.notes.push(format!(
                    "the sink kept {} records fewer in memory than it logged to sink.ndjson",
                    outcome.sink.records_dropped
                ));
            }
            credential_findings(report, &outcome);
            report.sealed = Some(outcome.info);
        }
    }
}

/// One sealed run: the world, then the live audit of `lo` in the namespace (`cfg.iface` is ignored)
/// with the command. `sealed` is what [`netns::enter`] returned; the caller entered it while it was
/// still single-threaded.
pub fn run(
    sealed: &mut Sealed,
    options: WorldOptions,
    cfg: &LiveConfig<'_>,
    out: &mut dyn Renderer,
) -> Result<Report, String> {
    let world = World::start(options, sealed).map_err(|e| e.to_string())?;
    let mut session = RunSession { world: Some(world), sealed };
    live::check_with(cfg, out, Some(&mut session)).map_err(|e| e.to_string())
}

/// Planted credentials in DNS names are leaks (violations; those in requests already are, per
/// request); opens of the planted files are reads (warnings: reading is not sending, but a hardened
/// setup denies it).
fn credential_findings(report: &mut Report, outcome: &world::Outcome) {
    let s = &mut report.summary;
    for (canary, encoding, name) in &outcome.dns_leaks {
        s.violations += 1;
        report.notes.push(format!(
            "credential-leak: the planted {canary} credential ({encoding}) was sent in the DNS name {}",
            crate::text::printable_str(name)
        ));
    }
    for r in &outcome.reads {
        s.warnings += 1;
        report.notes.push(format!(
            "credential-read: {} opened {} ({} time(s))",
            r.process.as_deref().unwrap_or("the agent (process unknown without root)"),
            r.path,
            r.opens
        ));
    }
    if s.violations > 0 {
        s.result = "fail";
        s.exit_code = 1;
    }
}
