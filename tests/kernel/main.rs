//! Kernel tests: built only with `--features kernel-tests` and run inside the sandbox kernel
//! by scripts/test. Each test works in a network namespace of its own.
//!
//! Tests named `serial_*` run one at a time after the others (scripts/test): the kernel's
//! service table is shared by every namespace, and while one namespace loads thousands of
//! rules, dumps in the others (ipvsadm's too, the oracle) can skip or repeat entries; traffic
//! tests also want a quiet machine for their timing.

mod support;

mod anycast;
mod apply;
mod attach;
mod drain;
mod drift;
mod examples;
mod failover;
mod host;
mod import;
mod ipvs_api;
mod ipvs_errors;
mod ipvsadm_compat;
mod ipvsadm_malformed;
mod logging;
mod metrics;
mod mh;
mod monitor;
mod overrides;
mod robust;
mod sandbox;
mod scale;
mod table_read;
mod traffic;
mod txn_safety;
