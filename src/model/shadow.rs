//! The kernel's IPVS, read but never written: `lvsh --shadow` runs a script's apply and
//! monitors beside another checker that owns the table, and only says where it disagrees.

use crate::ipvs::{BriefTable, Client, Daemon, Dest, Error, Info, Op, Service, ServiceKey, Timeouts};

use super::backend::Ipvs;

pub struct ReadOnly(pub Client);

impl Ipvs for ReadOnly {
    fn info(&mut self) -> Result<Info, Error> {
        self.0.info()
    }
    fn timeouts(&mut self) -> Result<Timeouts, Error> {
        self.0.timeouts()
    }
    fn service_list(&mut self) -> Result<Vec<Service>, Error> {
        self.0.service_list()
    }
    fn service(&mut self, key: &ServiceKey) -> Result<Option<Service>, Error> {
        self.0.service(key)
    }
    fn dests(&mut self, key: &ServiceKey) -> Result<Vec<Dest>, Error> {
        self.0.dests(key)
    }
    fn daemons(&mut self) -> Result<Vec<Daemon>, Error> {
        self.0.daemons()
    }
    /// Every write is taken and dropped: the table is the other checker's.
    fn execute_batch(&mut self, ops: &[Op]) -> Vec<Result<(), Error>> {
        ops.iter().map(|_| Ok(())).collect()
    }
    fn services_brief(&mut self) -> Result<BriefTable, Error> {
        Ipvs::services_brief(&mut self.0)
    }
    fn table_digests(&mut self) -> Option<crate::ipvs::proc_table::Digests> {
        Ipvs::table_digests(&mut self.0)
    }
}
