//! A bench pack: 100 detectors, each TRC-1016's logic without host-side
//! filters (as `trc-1016-unfiltered`), under ids BENCH-1016-000 to
//! BENCH-1016-099: one const-generic type instantiated 100 times, exported
//! with `export_pack!` as a user would (`make bench`, "100 detectors in one
//! pack").

use sigbox_sdk::{Event, EventSelector, Field, Finding, Metadata, Properties, Signature};

const SHELL_NAMES: [&str; 8] = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"];
const WEB_SERVER_NAMES: [&str; 7] = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
];

/// Copy `N` of TRC-1016's logic. It keeps no state.
pub struct Copy1016<const N: u16>;

impl<const N: u16> Signature for Copy1016<N> {
    fn metadata() -> Metadata {
        Metadata {
            id: format!("BENCH-1016-{N:03}"),
            version: "1".into(),
            name: "Web server spawned a shell, unfiltered (bench pack)".into(),
            event_name: "illegitimate_shell".into(),
            description: "TRC-1016 without host-side filters. For benchmarks.".into(),
            tags: vec!["test".into()],
            properties: Properties::none(),
        }
    }

    fn selected_events() -> Vec<EventSelector> {
        vec![EventSelector::new("sched_process_exec").reading(&["prev_comm", "process-name"])]
    }

    fn new(_config: &[Field]) -> Result<Self, String> {
        Ok(Self)
    }

    fn on_event(&mut self, event: &Event) -> Result<Vec<Finding>, String> {
        let prev_comm = event.text("prev_comm")?;
        if WEB_SERVER_NAMES.contains(&prev_comm)
            && SHELL_NAMES.contains(&event.text("process-name")?)
        {
            Ok(vec![Finding { data: vec![] }])
        } else {
            Ok(vec![])
        }
    }
}

// The list is written out (generated once): a const parameter per copy.
sigbox_pack::export_pack!(
    Copy1016<0>,
    Copy1016<1>,
    Copy1016<2>,
    Copy1016<3>,
    Copy1016<4>,
    Copy1016<5>,
    Copy1016<6>,
    Copy1016<7>,
    Copy1016<8>,
    Copy1016<9>,
    Copy1016<10>,
    Copy1016<11>,
    Copy1016<12>,
    Copy1016<13>,
    Copy1016<14>,
    Copy1016<15>,
    Copy1016<16>,
    Copy1016<17>,
    Copy1016<18>,
    Copy1016<19>,
    Copy1016<20>,
    Copy1016<21>,
    Copy1016<22>,
    Copy1016<23>,
    Copy1016<24>,
    Copy1016<25>,
    Copy1016<26>,
    Copy1016<27>,
    Copy1016<28>,
    Copy1016<29>,
    Copy1016<30>,
    Copy1016<31>,
    Copy1016<32>,
    Copy1016<33>,
    Copy1016<34>,
    Copy1016<35>,
    Copy1016<36>,
    Copy1016<37>,
    Copy1016<38>,
    Copy1016<39>,
    Copy1016<40>,
    Copy1016<41>,
    Copy1016<42>,
    Copy1016<43>,
    Copy1016<44>,
    Copy1016<45>,
    Copy1016<46>,
    Copy1016<47>,
    Copy1016<48>,
    Copy1016<49>,
    Copy1016<50>,
    Copy1016<51>,
    Copy1016<52>,
    Copy1016<53>,
    Copy1016<54>,
    Copy1016<55>,
    Copy1016<56>,
    Copy1016<57>,
    Copy1016<58>,
    Copy1016<59>,
    Copy1016<60>,
    Copy1016<61>,
    Copy1016<62>,
    Copy1016<63>,
    Copy1016<64>,
    Copy1016<65>,
    Copy1016<66>,
    Copy1016<67>,
    Copy1016<68>,
    Copy1016<69>,
    Copy1016<70>,
    Copy1016<71>,
    Copy1016<72>,
    Copy1016<73>,
    Copy1016<74>,
    Copy1016<75>,
    Copy1016<76>,
    Copy1016<77>,
    Copy1016<78>,
    Copy1016<79>,
    Copy1016<80>,
    Copy1016<81>,
    Copy1016<82>,
    Copy1016<83>,
    Copy1016<84>,
    Copy1016<85>,
    Copy1016<86>,
    Copy1016<87>,
    Copy1016<88>,
    Copy1016<89>,
    Copy1016<90>,
    Copy1016<91>,
    Copy1016<92>,
    Copy1016<93>,
    Copy1016<94>,
    Copy1016<95>,
    Copy1016<96>,
    Copy1016<97>,
    Copy1016<98>,
    Copy1016<99>
);
