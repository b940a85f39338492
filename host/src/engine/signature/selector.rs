//! A signature's event selectors, compiled for the dispatch path: event name,
//! origin and host-side field filters, all checked natively before an event
//! crosses into the sandbox.

use std::collections::HashSet;

use crate::engine::wasm::model::{Access, EventSelector, FilterTest, OriginFilter};
use crate::event::fields::EventField;
use crate::event::{Event, Kind, Origin, Value};

/// One compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    name: String,
    /// The name's kind when the event table knows it: compared instead of
    /// the name on the dispatch path.
    kind: Option<Kind>,
    origin: OriginFilter,
    /// The filters, each with its field resolved. Exact-match filters on
    /// one field are merged into one hash set of the values they all accept
    /// (their intersection): one lookup per field per event, however many
    /// filters and values were declared.
    filters: Vec<(EventField, Condition)>,
    /// The fields a 0.2 signature reads, in the order it declared them.
    fields: Vec<EventField>,
}

impl Selector {
    /// Compiles a selector the signature declared.
    pub fn new(selector: &EventSelector) -> Self {
        Self {
            name: selector.name.clone(),
            kind: Kind::named(&selector.name),
            origin: selector.origin,
            filters: merged_filters(selector),
            fields: selector
                .fields
                .iter()
                .map(|f| EventField::resolve(&selector.name, f))
                .collect(),
        }
    }

    /// Whether `event` should be passed to the signature. A filtered field
    /// the event lacks (or that is not a string) lets the event through, so
    /// the signature still sees malformed events.
    pub fn accepts(&self, event: &Event) -> bool {
        let named = match (self.kind, event.kind()) {
            (Some(kind), Some(event_kind)) => kind == event_kind,
            (None, None) => self.name == event.name(),
            _ => false,
        };
        named
            && origin_matches(self.origin, event.context.origin)
            && self
                .filters
                .iter()
                .all(|(field, condition)| condition.passes(field, event))
    }
}

/// A filter's test, compiled.
#[derive(Debug, Clone)]
enum Condition {
    Equals(TextSet),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    BasenameIn(TextSet),
    AccessMode(Access),
}

impl Condition {
    fn new(test: &FilterTest) -> Self {
        match test {
            FilterTest::Equals(values) => Self::Equals(TextSet::new(values)),
            FilterTest::Prefix(values) => Self::Prefix(values.clone()),
            FilterTest::Suffix(values) => Self::Suffix(values.clone()),
            FilterTest::BasenameIn(values) => Self::BasenameIn(TextSet::new(values)),
            FilterTest::AccessMode(access) => Self::AccessMode(*access),
        }
    }

    /// Whether `event`'s `field` passes. A field the event lacks, or of
    /// another type than the test reads, passes: the signature sees (and
    /// may report) malformed events.
    fn passes(&self, field: &EventField, event: &Event) -> bool {
        if let Self::AccessMode(access) = self {
            // A wider number than flags' 32 bits is malformed, for the
            // signature to see and report.
            return field
                .bits32(event)
                .is_none_or(|flags| allows(flags, *access));
        }
        // A list (the ancestors' names) passes when any element does, as
        // Falco's `proc.aname in (...)`; an empty one does not.
        if let Some(mut texts) = field.texts(event) {
            return texts.any(|text| self.passes_text(text));
        }
        match field.text(event) {
            Some(text) => self.passes_text(text),
            // An ancestor the event lacks (replay has none) is no match;
            // another missing field passes, for the signature to see.
            None => !field.is_ancestry(),
        }
    }

    fn passes_text(&self, text: &str) -> bool {
        match self {
            Self::Equals(values) => values.contains(text),
            Self::Prefix(prefixes) => prefixes.iter().any(|p| text.starts_with(p.as_str())),
            Self::Suffix(suffixes) => suffixes.iter().any(|s| text.ends_with(s.as_str())),
            Self::BasenameIn(names) => names.contains(basename(text)),
            Self::AccessMode(_) => unreachable!("tested by passes"),
        }
    }
}

/// The values an exact-match filter accepts. A few (a signature's lists of
/// shells or servers) are compared in turn, which costs less than hashing
/// the event's text (most differ in length, tested first); many are
/// hashed, so the largest sets cost one lookup.
#[derive(Debug, Clone)]
enum TextSet {
    Few(Vec<String>),
    Many(HashSet<String>),
}

/// Most values compared in turn.
const FEW: usize = 16;

impl TextSet {
    fn new(values: &[String]) -> Self {
        if values.len() > FEW {
            return Self::Many(values.iter().cloned().collect());
        }
        let mut unique: Vec<String> = Vec::with_capacity(values.len());
        for value in values {
            if !unique.contains(value) {
                unique.push(value.clone());
            }
        }
        Self::Few(unique)
    }

    fn contains(&self, text: &str) -> bool {
        match self {
            Self::Few(values) => values.iter().any(|v| v == text),
            Self::Many(values) => values.contains(text),
        }
    }

    /// Keeps the values `others` also holds (two filters on one field).
    fn keep_only(&mut self, others: &[String]) {
        let kept: Vec<String> = match self {
            Self::Few(values) => values
                .iter()
                .filter(|v| others.contains(v))
                .cloned()
                .collect(),
            Self::Many(values) => values
                .iter()
                .filter(|v| others.contains(v))
                .cloned()
                .collect(),
        };
        *self = Self::new(&kept);
    }
}

/// What follows the last `/` of `path` (all of it when it has none).
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether open flags allow `access`, as Tracee's `IsFileRead` /
/// `IsFileWrite` decide it from the access mode (`flags & O_ACCMODE`).
pub fn allows(flags: u32, access: Access) -> bool {
    const O_ACCMODE: u32 = 0o3;
    const O_RDONLY: u32 = 0o0;
    const O_WRONLY: u32 = 0o1;
    const O_RDWR: u32 = 0o2;
    matches!(
        (flags & O_ACCMODE, access),
        (O_RDWR, _) | (O_RDONLY, Access::Read) | (O_WRONLY, Access::Write)
    )
}

impl Selector {
    /// The values of the declared fields of `event`, in declared order:
    /// what a 0.2 signature receives.
    pub fn project<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = Value> + 'a {
        self.fields.iter().map(|field| field.value(event))
    }

    /// The fields a 0.2 signature reads, resolved, in declared order.
    pub fn fields(&self) -> &[EventField] {
        &self.fields
    }
}

/// The selector's filters compiled, exact-match ones merged per field:
/// filters on the same field must all hold, so the field's value must be
/// in every one of their lists.
fn merged_filters(selector: &EventSelector) -> Vec<(EventField, Condition)> {
    let mut merged: Vec<(EventField, Condition)> = Vec::new();
    for filter in &selector.filters {
        let field = EventField::resolve(&selector.name, &filter.field);
        let known_equals = merged
            .iter_mut()
            .find_map(|(known, condition)| match condition {
                Condition::Equals(values) if *known == field => Some(values),
                _ => None,
            });
        match (known_equals, &filter.test) {
            (Some(values), FilterTest::Equals(any_of)) => values.keep_only(any_of),
            _ => merged.push((field, Condition::new(&filter.test))),
        }
    }
    merged
}

/// Whether a selector's origin filter accepts an event's origin. As in
/// Tracee's engine (which compares origins exactly), `container` means a
/// started container: `container-init` events are not its.
fn origin_matches(filter: OriginFilter, origin: Origin) -> bool {
    match filter {
        OriginFilter::Any => true,
        OriginFilter::Host => origin == Origin::Host,
        OriginFilter::Container => origin == Origin::Container,
        OriginFilter::ContainerInit => origin == Origin::ContainerInit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::FieldFilter;
    use crate::source::tracee_json::parse_event;

    fn selector(origin: OriginFilter, filters: &[(&str, &[&str])]) -> Selector {
        Selector::new(&EventSelector {
            name: "sched_process_exec".into(),
            origin,
            filters: filters
                .iter()
                .map(|(field, any_of)| FieldFilter::equals(field, any_of))
                .collect(),
            fields: vec![],
        })
    }

    fn exec(comm: &str, prev_comm: Option<&str>) -> Event {
        let prev = prev_comm.map_or(String::new(), |p| {
            format!(r#",{{"name":"prev_comm","type":"const char*","value":"{p}"}}"#)
        });
        parse_event(&format!(
            r#"{{"eventName":"sched_process_exec","processName":"{comm}","args":[{{"name":"pathname","value":"/bin/{comm}"}}{prev}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn origin_filters() {
        assert!(origin_matches(OriginFilter::Any, Origin::Host));
        assert!(origin_matches(OriginFilter::Any, Origin::ContainerInit));
        assert!(origin_matches(OriginFilter::Host, Origin::Host));
        assert!(!origin_matches(OriginFilter::Host, Origin::Container));
        assert!(origin_matches(OriginFilter::Container, Origin::Container));
        assert!(!origin_matches(
            OriginFilter::Container,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(OriginFilter::Container, Origin::Host));
        assert!(origin_matches(
            OriginFilter::ContainerInit,
            Origin::ContainerInit
        ));
        assert!(!origin_matches(
            OriginFilter::ContainerInit,
            Origin::Container
        ));
    }

    fn with_ancestors(mut event: Event, names: &[&str]) -> Event {
        event.context.ancestors = names
            .iter()
            .map(|name| crate::event::Ancestor {
                host_pid: 1,
                entity_id: 1,
                process_name: (*name).into(),
                executable_path: format!("/usr/sbin/{name}").into(),
                start_ns: 1,
                ..crate::event::Ancestor::default()
            })
            .collect();
        event
    }

    #[test]
    fn a_list_field_passes_when_any_name_does_and_missing_ancestry_never_passes() {
        let below_web_server = selector(
            OriginFilter::Any,
            &[
                ("process-name", &["sh", "bash"]),
                ("ancestors.process-name", &["nginx", "httpd"]),
            ],
        );
        let bash = || exec("bash", None);
        assert!(below_web_server.accepts(&with_ancestors(bash(), &["sh", "nginx", "systemd"])));
        assert!(!below_web_server.accepts(&with_ancestors(bash(), &["sshd", "systemd"])));
        assert!(
            !below_web_server.accepts(&bash()),
            "no ancestry (replay): no match"
        );
        let parent = Selector::new(&EventSelector {
            name: "sched_process_exec".into(),
            origin: OriginFilter::Any,
            filters: vec![
                FieldFilter::equals("parent.process-name", &["sh"]),
                FieldFilter {
                    field: "ancestor.2.executable-path".into(),
                    test: FilterTest::BasenameIn(vec!["nginx".into()]),
                },
            ],
            fields: vec![],
        });
        assert!(parent.accepts(&with_ancestors(bash(), &["sh", "nginx"])));
        assert!(!parent.accepts(&with_ancestors(bash(), &["sh"])));
        assert!(!parent.accepts(&with_ancestors(bash(), &["nginx", "sh"])));
    }

    #[test]
    fn field_filters_must_all_hold() {
        let shells = selector(
            OriginFilter::Any,
            &[("prev-comm", &["nginx"]), ("process-name", &["sh", "bash"])],
        );
        assert!(shells.accepts(&exec("sh", Some("nginx"))));
        assert!(shells.accepts(&exec("bash", Some("nginx"))));
        assert!(!shells.accepts(&exec("ls", Some("nginx"))));
        assert!(!shells.accepts(&exec("sh", Some("sshd"))));
        assert!(
            !shells.accepts(&exec("sh", Some("NGINX"))),
            "exact and case-sensitive"
        );
        let pathname = selector(OriginFilter::Any, &[("pathname", &["/bin/sh"])]);
        assert!(pathname.accepts(&exec("sh", None)));
        assert!(!pathname.accepts(&exec("ls", None)));
    }

    #[test]
    fn a_filter_of_many_values_accepts_each_of_them_and_nothing_else() {
        let values: Vec<String> = (0..1024).map(|v| format!("comm{v}")).collect();
        let names: Vec<&str> = values.iter().map(String::as_str).collect();
        let many = selector(OriginFilter::Any, &[("process-name", &names)]);
        for comm in ["comm0", "comm511", "comm1023"] {
            assert!(many.accepts(&exec(comm, None)), "{comm}");
        }
        assert!(!many.accepts(&exec("comm1024", None)));
        assert!(!many.accepts(&exec("comm", None)));
    }

    #[test]
    fn filters_on_one_field_must_all_hold() {
        let both = selector(
            OriginFilter::Any,
            &[
                ("process-name", &["sh", "bash", "zsh"]),
                ("process-name", &["bash", "zsh", "dash"]),
                ("process-name", &["zsh", "bash"]),
            ],
        );
        assert!(both.accepts(&exec("bash", None)));
        assert!(both.accepts(&exec("zsh", None)));
        assert!(!both.accepts(&exec("sh", None)));
        assert!(!both.accepts(&exec("dash", None)));
        let disjoint = selector(
            OriginFilter::Any,
            &[("process-name", &["sh"]), ("process-name", &["bash"])],
        );
        assert!(!disjoint.accepts(&exec("sh", None)));
        assert!(!disjoint.accepts(&exec("bash", None)));
    }

    #[test]
    fn a_missing_field_lets_the_event_through() {
        let shells = selector(OriginFilter::Any, &[("prev-comm", &["nginx"])]);
        assert!(shells.accepts(&exec("sh", None)));
        let argument = selector(OriginFilter::Any, &[("no_such_argument", &["x"])]);
        assert!(argument.accepts(&exec("sh", Some("nginx"))));
    }

    #[test]
    fn name_and_origin_still_apply() {
        let host_only = selector(OriginFilter::Host, &[]);
        assert!(host_only.accepts(&exec("sh", None)));
        let mut in_container = exec("sh", None);
        in_container.context.origin = Origin::Container;
        assert!(!host_only.accepts(&in_container));
        let mut other = exec("sh", None);
        other.name = crate::event::EventName::Other("openat".into());
        assert!(!host_only.accepts(&other));
        other.name = crate::event::EventName::Known(Kind::SecurityFileOpen);
        assert!(!host_only.accepts(&other));
    }

    fn open(pathname: Option<&str>, flags: Option<Value>) -> Event {
        let mut event = Event::named(crate::event::Context::default(), "security_file_open");
        if let Some(path) = pathname {
            event.set("pathname", Value::Text(path.into()));
        }
        if let Some(flags) = flags {
            event.set("flags", flags);
        }
        event
    }

    fn opens(filters: Vec<FieldFilter>) -> Selector {
        Selector::new(&EventSelector {
            name: "security_file_open".into(),
            origin: OriginFilter::Any,
            filters,
            fields: vec![],
        })
    }

    fn filter(field: &str, test: FilterTest) -> FieldFilter {
        FieldFilter {
            field: field.into(),
            test,
        }
    }

    fn texts(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn prefix_suffix_and_basename_tests_compare_as_named() {
        let cron = opens(vec![filter(
            "pathname",
            FilterTest::Prefix(texts(&["/etc/cron.d/", "/var/spool/cron/"])),
        )]);
        assert!(cron.accepts(&open(Some("/etc/cron.d/job"), None)));
        assert!(cron.accepts(&open(Some("/var/spool/cron/root"), None)));
        assert!(!cron.accepts(&open(Some("/etc/cron.daily"), None)));
        assert!(!cron.accepts(&open(Some("/ETC/cron.d/job"), None)));

        let libraries = opens(vec![filter(
            "pathname",
            FilterTest::Suffix(texts(&[".so"])),
        )]);
        assert!(libraries.accepts(&open(Some("/lib/libc.so"), None)));
        assert!(!libraries.accepts(&open(Some("/lib/libc.so.6"), None)));

        let agents = opens(vec![filter(
            "pathname",
            FilterTest::BasenameIn(texts(&["release_agent"])),
        )]);
        assert!(agents.accepts(&open(Some("/sys/fs/cgroup/x/release_agent"), None)));
        assert!(
            agents.accepts(&open(Some("release_agent"), None)),
            "no slash"
        );
        assert!(!agents.accepts(&open(Some("/tmp/release_agent.bak"), None)));
        assert!(!agents.accepts(&open(Some("/tmp/release_agent/"), None)));
    }

    #[test]
    fn access_mode_tests_the_open_flags_as_tracee_does() {
        const O_RDONLY: i64 = 0;
        const O_WRONLY: i64 = 1;
        const O_RDWR: i64 = 2;
        const O_CREAT: i64 = 0o100;
        let writes = opens(vec![filter("flags", FilterTest::AccessMode(Access::Write))]);
        let reads = opens(vec![filter("flags", FilterTest::AccessMode(Access::Read))]);
        let with = |flags: i64| open(Some("/f"), Some(Value::Signed(flags)));
        assert!(writes.accepts(&with(O_WRONLY | O_CREAT)));
        assert!(writes.accepts(&with(O_RDWR)));
        assert!(!writes.accepts(&with(O_RDONLY | O_CREAT)));
        assert!(reads.accepts(&with(O_RDONLY)));
        assert!(reads.accepts(&with(O_RDWR)));
        assert!(!reads.accepts(&with(O_WRONLY)));
        assert!(
            !reads.accepts(&with(3)) && !writes.accepts(&with(3)),
            "O_ACCMODE"
        );
        // Replay may carry the number unsigned; a text or missing `flags`
        // is malformed and passes, for the signature to see.
        assert!(writes.accepts(&open(Some("/f"), Some(Value::Unsigned(1)))));
        let wide = open(Some("/f"), Some(Value::Unsigned(u64::MAX)));
        assert!(reads.accepts(&wide) && writes.accepts(&wide), "not 32 bits");
        let negative = open(Some("/f"), Some(Value::Signed(-4)));
        assert!(
            reads.accepts(&negative) && !writes.accepts(&negative),
            "-4 & 3 = O_RDONLY"
        );
        assert!(writes.accepts(&open(Some("/f"), Some(Value::Text("O_RDONLY".into())))));
        assert!(writes.accepts(&open(Some("/f"), None)));
    }

    #[test]
    fn tests_of_different_kinds_must_all_hold_and_a_missing_field_passes() {
        let shadow_writes = opens(vec![
            filter("flags", FilterTest::AccessMode(Access::Write)),
            filter("pathname", FilterTest::Prefix(texts(&["/etc/"]))),
            filter(
                "pathname",
                FilterTest::BasenameIn(texts(&["shadow", "passwd"])),
            ),
            filter(
                "pathname",
                FilterTest::Equals(texts(&["/etc/shadow", "/etc/group"])),
            ),
        ]);
        let write = Some(Value::Signed(1));
        assert!(shadow_writes.accepts(&open(Some("/etc/shadow"), write.clone())));
        assert!(!shadow_writes.accepts(&open(Some("/etc/passwd"), write.clone())));
        assert!(!shadow_writes.accepts(&open(Some("/etc/shadow"), Some(Value::Signed(0)))));
        assert!(shadow_writes.accepts(&open(None, write)));
    }
}
