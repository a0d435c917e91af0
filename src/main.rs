mod error;
mod secret;
mod cluster;
mod download;
mod http;
mod token;

fn main() {}
