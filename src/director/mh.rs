//! What an mh service's Maglev table is on this director: its fingerprint for comparing
//! directors, whether the kernel's list is in the order lvsh keeps, and what a flow gets.

use std::net::IpAddr;

use super::Director;
use super::error::Error;
use crate::ipvs::consts::SVC_F_SCHED2;
use crate::ipvs::{Dest, Op, ServiceKey, Timeouts};
use crate::model::mh::{self, Table};
use crate::model::plan::mh_order;
use crate::model::table::Table as Model;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// None: more servers than the table has slots (the kernel keeps its old table).
    pub fingerprint: Option<String>,
    pub canonical: bool,
    /// False when a server has weight 0: the kernel may still give it the slots of its last
    /// non-zero weight (it does not report that weight), which lvsh counts as none.
    pub exact: bool,
    /// The servers in the kernel's list order, with their slots.
    pub shares: Vec<((IpAddr, u16), usize)>,
    /// Out of order: the servers that must go out and come back (highest first) to put
    /// the list in order, which any lvs.apply of the service does.
    pub readd: Vec<(IpAddr, u16)>,
}

/// The summary of a list in the kernel's order, and its table.
pub fn summary(key: &ServiceKey, dests: &[Dest]) -> (Summary, Option<Table>) {
    let table = mh::table(dests);
    let readd = mh_order::in_order(key, dests, Vec::new())
        .into_iter()
        .filter_map(|op| match op {
            Op::AddDest(_, d) => Some((d.addr, d.port)),
            _ => None,
        })
        .collect();
    let shares = match &table {
        Some(t) => t.shares(),
        None => dests.iter().map(|d| ((d.addr, d.port), 0)).collect(),
    };
    let s = Summary {
        fingerprint: table.as_ref().map(Table::fingerprint),
        canonical: mh::is_canonical(dests),
        exact: dests.iter().all(|d| d.weight > 0),
        shares,
        readd,
    };
    (s, table)
}

impl Director {
    /// The mh summary of a service, None when it is not an mh service.
    pub fn mh(&mut self, key: &ServiceKey) -> Result<Option<(Summary, Option<Table>)>, Error> {
        match self.ipvs.service(key)? {
            Some(s) if s.scheduler == "mh" => {
                let dests = self.ipvs.dests(key)?;
                Ok(Some(summary(key, &dests)))
            }
            Some(_) => Ok(None),
            None => Err(super::no_service(key)),
        }
    }

    /// The table as `services` gives it, with the summary of each mh service (taken from
    /// the same dump, before the listing sorts the servers).
    pub fn services_with_mh(
        &mut self,
    ) -> Result<
        (
            crate::ipvs::ServiceTable,
            std::collections::HashMap<ServiceKey, Summary>,
        ),
        Error,
    > {
        let mut all = self.ipvs.services()?;
        let mh = all
            .iter()
            .filter(|(s, _)| s.scheduler == "mh")
            .map(|(s, d)| (s.key.clone(), summary(&s.key, d).0))
            .collect();
        crate::model::order::sort_table(&mut all);
        Ok((all, mh))
    }

    /// Adds a real server; to an mh service at its place in the order lvsh keeps (see
    /// `model::plan`), which may take the servers that sort before it out and back, all in
    /// one transaction. `wait`: for the namespace's lock, or try it once (a monitor putting
    /// a server back, on the loop).
    pub fn put_server(&mut self, key: &ServiceKey, dest: Dest, wait: bool) -> Result<(), Error> {
        let add = Op::AddDest(key.clone(), dest.clone());
        let _lock = self.lock(wait)?;
        self.refuse_pending()?;
        if let Some(svc) = self.ipvs.service(key)?.filter(|s| s.scheduler == "mh") {
            let have = self.ipvs.dests(key)?;
            if !have.iter().any(|d| (d.addr, d.port) == (dest.addr, dest.port)) {
                let ops = mh_order::in_order(key, &have, vec![add.clone()]);
                if ops.len() > 1 {
                    let before = Model::new(vec![(svc, have)], Timeouts::default(), Vec::new());
                    return self.run_recorded("add_server", before, &ops, None, &|f| f.error.into());
                }
            }
        }
        Ok(self.ipvs.execute(&add)?)
    }

    /// The real server this director's table gives a new flow from `client` (its port
    /// counts with the mh-port flag, as in the kernel).
    pub fn mh_server(
        &mut self,
        key: &ServiceKey,
        client: IpAddr,
        port: u16,
    ) -> Result<Option<(IpAddr, u16)>, Error> {
        let Some(svc) = self.ipvs.service(key)? else {
            return Err(super::no_service(key));
        };
        let dests = self.ipvs.dests(key)?;
        let port = if svc.flags & SVC_F_SCHED2 != 0 { port } else { 0 };
        Ok(mh::table(&dests).and_then(|t| t.server_for(client, port)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::Protocol;

    #[test]
    fn an_out_of_order_list_names_what_to_readd() {
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "192.0.2.1".parse().unwrap(),
            port: 80,
        };
        let d = |h: u8| Dest::new(IpAddr::from([198, 51, 100, h]), 80);
        let (s, _) = summary(&key, &[d(1), d(2), d(3)]);
        assert!(s.canonical && s.exact && s.readd.is_empty());
        assert_eq!(s.shares.iter().map(|x| x.1).sum::<usize>(), mh::SLOTS);
        // 2 was added after 1 and 3: it and 1 must go out and come back
        let (s, _) = summary(&key, &[d(2), d(1), d(3)]);
        assert!(!s.canonical);
        assert_eq!(s.readd, [(d(2).addr, 80), (d(1).addr, 80)]);
    }
}
