//! Conformance suite: walks every row of sections 1-6 of dynatrace-api.md against an
//! in-process dtsim (status, headers, body shape, auth and scope failures), plus faults,
//! admin routes, state file, CLI and load.

mod admin;
mod cli;
mod common;
mod deployment;
mod documented;
mod documented_tokens;
mod environments;
mod faults;
mod groups;
mod load;
mod ratelimit;
mod robustness;
mod settings;
mod tokens;
