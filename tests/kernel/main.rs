//! Kernel tests: built only with `--features kernel-tests` and run inside the sandbox kernel
//! by scripts/test. Each test works in a network namespace of its own.

mod support;

mod examples;
mod ipvs_api;
mod ipvs_errors;
mod ipvsadm_compat;
mod sandbox;
mod scale;
mod traffic;
