#![no_main]
//! The restricted unpickler: it must never run code, and never fail other than with an error.

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = skelcam::data::pickle::load(data);
});
