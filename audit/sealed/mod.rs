//! `check --sealed`: the agent runs in a private network namespace where every host answers locally
//! ([`netns`]), our DNS gives each name its own local address ([`dns`], [`addresses`]) and the sink
//! accepts every connection, plays the model and logs every request ([`sink`]); the capture of the
//! namespace's `lo` goes through the same pipeline as any live audit, joined with the sink's log.

pub mod addresses;
pub mod dns;
pub mod netns;
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
            let (info, sink, _) = world.stop(self.sealed);
            if sink.records_dropped > 0 {
                report.notes.push(format!(
                    "the sink kept {} records fewer in memory than it logged to sink.ndjson",
                    sink.records_dropped
                ));
            }
            report.sealed = Some(info);
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
