pub mod installer;
pub fn placeholder() {}
