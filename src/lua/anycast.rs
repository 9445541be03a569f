//! `lvs.anycast{vips=, monitors=, dev=, hang=, linger=, grade=, bird=}`: announce VIPs through
//! BIRD 2 while the monitors allow (see `check::anycast`). Converts the arguments, starts
//! the group, and keeps it for `lvs.run()` to withdraw gracefully at its end.

use std::net::IpAddr;
use std::path::PathBuf;

use mlua::{AnyUserData, Lua, Table, UserData, UserDataMethods, Value};

use super::args::{Fields, bad};
use super::engine::lua_loop;
use super::ipvs::with_director;
use super::monitor::MonitorHandle;
use crate::check::anycast::rule::Grade;
use crate::check::anycast::{self, BirdSpec, Group, Spec};

/// The groups of this Lua state, for `lvs.run()` to stop.
#[derive(Default)]
struct Groups(Vec<Group>);

pub struct AnycastHandle(Group);

fn vip(v: &str) -> mlua::Result<IpAddr> {
    v.parse().map_err(|_| {
        mlua::Error::runtime(format!(
            "vips: {v:?} is not an IP address (the VIP, no port or prefix)"
        ))
    })
}

fn bird(t: Table) -> mlua::Result<BirdSpec> {
    let f = Fields::new(t, "bird", &["include", "socket", "protocol", "birdc"], &[])?;
    let include = f.string("include")?.ok_or_else(|| {
        mlua::Error::runtime("bird.include: the file BIRD's configuration includes is required")
    })?;
    Ok(BirdSpec {
        include: PathBuf::from(include),
        socket: f.string("socket")?.map(PathBuf::from),
        protocol: f.string("protocol")?.unwrap_or_else(|| "lvsh_anycast".into()),
        birdc: f.string("birdc")?.unwrap_or_else(|| "birdc".into()),
    })
}

fn grade(t: Table) -> mlua::Result<Grade> {
    let f = Fields::new(t.clone(), "grade", &["below", "med"], &[])?;
    let below: f64 = t.get::<Option<f64>>("below")?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&below) {
        return Err(bad(
            "grade.below",
            &f.raw("below")?,
            "must be a share from 0 to 1",
        ));
    }
    let med = f.int("med")?.unwrap_or(100);
    let med = u32::try_from(med)
        .map_err(|_| mlua::Error::runtime(format!("grade.med: {med} is not a MED (0 to 4294967295)")))?;
    Ok(Grade { below, med })
}

fn start(lua: &Lua, t: Table) -> mlua::Result<AnycastHandle> {
    let f = Fields::new(
        t.clone(),
        "lvs.anycast",
        &[
            "vips", "monitors", "dev", "hang", "linger", "grade", "bird", "sloppy",
        ],
        &[],
    )?;
    let vips: Vec<IpAddr> = match t.get::<Value>("vips")? {
        Value::String(s) => vec![vip(&s.to_str()?)?],
        Value::Table(l) => l
            .sequence_values::<String>()
            .map(|v| vip(&v?))
            .collect::<mlua::Result<_>>()?,
        other => return Err(bad("vips", &other, "must be a list of addresses")),
    };
    if vips.is_empty() {
        return Err(bad("vips", &f.raw("vips")?, "must name at least one VIP"));
    }
    let monitors = match t.get::<Value>("monitors")? {
        Value::Nil => Vec::new(),
        Value::Table(l) => l
            .sequence_values::<AnyUserData>()
            .map(|u| {
                let u = u.map_err(|_| {
                    mlua::Error::runtime("monitors: must be a list of monitors (lvs.monitor's)")
                })?;
                let m = u.borrow::<MonitorHandle>().map_err(|_| {
                    mlua::Error::runtime("monitors: must be a list of monitors (lvs.monitor's)")
                })?;
                Ok(m.handle())
            })
            .collect::<mlua::Result<_>>()?,
        other => return Err(bad("monitors", &other, "must be a list of monitors")),
    };
    let spec = Spec {
        vips,
        dev: f.string("dev")?.unwrap_or_else(|| "lvsh-any".into()),
        hang: f.seconds("hang")?.unwrap_or(std::time::Duration::from_secs(3)),
        linger: f.seconds("linger")?.unwrap_or(std::time::Duration::from_secs(1)),
        grade: t.get::<Option<Table>>("grade")?.map(grade).transpose()?,
        bird: t.get::<Option<Table>>("bird")?.map(bird).transpose()?,
    };
    if spec.hang < std::time::Duration::from_millis(200) {
        return Err(bad("hang", &f.raw("hang")?, "must be 0.2 seconds or more"));
    }
    let sloppy = f.bool("sloppy")?.unwrap_or(true);
    director_role(lua, &spec.vips, sloppy);
    let group = lua_loop(lua, || anycast::start(spec, monitors))?;
    if lua.app_data_ref::<Groups>().is_none() {
        lua.set_app_data(Groups::default());
    }
    if let Some(mut g) = lua.app_data_mut::<Groups>() {
        g.0.push(group.clone());
    }
    Ok(AnycastHandle(group))
}

/// What a director behind ECMP needs of IPVS: a flow that moves to it mid-connection is
/// taken (sloppy_tcp, sloppy_sctp), and said of what cannot follow a moved flow: NAT (the
/// replies pass the director that had it) and schedulers that do not map a flow alike on
/// every director.
fn director_role(lua: &Lua, vips: &[IpAddr], sloppy: bool) {
    if sloppy {
        for name in ["net.ipv4.vs.sloppy_tcp", "net.ipv4.vs.sloppy_sctp"] {
            if let Err(e) = crate::host::sysctl::set(name, "1") {
                crate::log::warn(&format!(
                    "anycast: {e} (load ip_vs first: apply the services before lvs.anycast)"
                ));
            }
        }
    }
    let Ok(table) = with_director(lua, |d| d.services()) else {
        return;
    };
    let on_vip = |k: &crate::ipvs::ServiceKey| matches!(k, crate::ipvs::ServiceKey::Addr { addr, .. } if vips.contains(addr));
    for (s, dests) in table.iter().filter(|(s, _)| on_vip(&s.key)) {
        let name = s.key.to_string();
        if s.scheduler != "mh" && s.scheduler != "sh" {
            crate::log::warn(&format!(
                "anycast: {name} is scheduled by {}: directors will send a moved flow to another real server (use mh, with mh-port, or sh)",
                s.scheduler
            ));
        }
        if dests.iter().any(|d| d.fwd == crate::ipvs::Forward::Masq) {
            crate::log::warn(&format!(
                "anycast: {name} has NAT real servers: a flow moved to another director cannot survive NAT (use DR or TUN)"
            ));
        }
    }
}

/// Withdraws every group gracefully (`lvs.run()`'s end): the routes first, then the rest.
pub async fn stop_all(lua: &Lua, why: &str) {
    let groups: Vec<Group> = lua
        .app_data_mut::<Groups>()
        .map(|mut g| std::mem::take(&mut g.0))
        .unwrap_or_default();
    for g in &groups {
        g.stop(why).await;
    }
}

fn status(lua: &Lua, g: &Group) -> mlua::Result<Table> {
    let s = g.status();
    let t = lua.create_table()?;
    t.set("dev", s.dev)?;
    t.set("vips", s.vips.iter().map(|v| v.to_string()).collect::<Vec<_>>())?;
    t.set("announced", s.announced)?;
    t.set("reason", s.reason)?;
    t.set("med", s.med)?;
    t.set("since", s.since)?;
    t.set("device", s.device)?;
    t.set("stalls", s.stalls)?;
    t.set("changes", s.changes)?;
    Ok(t)
}

impl UserData for AnycastHandle {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("status", |lua, this, ()| status(lua, &this.0));
        m.add_method("withdraw", |_, this, ()| {
            this.0.hold_down(true);
            Ok(true)
        });
        m.add_method("announce", |_, this, ()| {
            this.0.hold_down(false);
            Ok(true)
        });
    }
}

pub fn register(lua: &Lua, lvs: &Table) -> mlua::Result<()> {
    lvs.set("anycast", lua.create_function(start)?)?;
    Ok(())
}
