mod error;
mod secret;

fn main() {}
