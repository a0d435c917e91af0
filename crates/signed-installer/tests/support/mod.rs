//! Helpers for the openssl-backed tests.
#![allow(dead_code)]

pub mod gen;
pub mod openssl;
pub mod pki;
