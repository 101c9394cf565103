//! `check --sealed`: the agent runs in a private network namespace where every host answers locally
//! ([`netns`]), our DNS gives each name its own local address ([`dns`], [`addresses`]) and the sink
//! accepts every connection, plays the model and logs every request ([`sink`]); the capture of the
//! namespace's `lo` goes through the same pipeline as any live audit, joined with the sink's log.

pub mod addresses;
pub mod dns;
pub mod netns;
pub mod sink;
