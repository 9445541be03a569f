//! ipvsadm 1.31, natively: its command line, its listing and save formats, its messages and
//! exit codes, so that lvsh can stand in for it. No Lua here.

pub mod args;
pub mod exec;
pub mod listing;
pub mod names;
pub mod rules;
pub mod words;
