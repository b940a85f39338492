//! `open(2)` flags as Tracee prints them with argument parsing on
//! (`O_WRONLY|O_CREAT|O_CLOEXEC`, from `common/parsers` in v0.24.1), mapped
//! back to the number: signatures see raw flags whether a capture was taken
//! with parsing on or off, as in Tracee's own engine. Values are this
//! architecture's (amd64 and arm64 differ in four of them).

/// Every name Tracee prints, with its value.
const NAMES: [(&str, i64); 22] = [
    ("O_RDONLY", 0o0),
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_SYNC", 0o4010000),
    ("FASYNC", 0o20000),
    ("O_DIRECT", DIRECT),
    ("O_LARGEFILE", LARGEFILE),
    ("O_DIRECTORY", DIRECTORY),
    ("O_NOFOLLOW", NOFOLLOW),
    ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000),
    ("O_PATH", 0o40000000),
    ("O_TMPFILE", 0o20000000),
    // Printed by other parsers of the same argument; accepted for safety.
    ("O_ACCMODE", 0o3),
    ("O_NDELAY", 0o4000),
];

#[cfg(not(target_arch = "aarch64"))]
mod arch {
    pub const DIRECT: i64 = 0o40000;
    pub const LARGEFILE: i64 = 0o100000;
    pub const DIRECTORY: i64 = 0o200000;
    pub const NOFOLLOW: i64 = 0o400000;
}
#[cfg(target_arch = "aarch64")]
mod arch {
    pub const DIRECT: i64 = 0o200000;
    pub const LARGEFILE: i64 = 0o400000;
    pub const DIRECTORY: i64 = 0o40000;
    pub const NOFOLLOW: i64 = 0o100000;
}
use arch::{DIRECT, DIRECTORY, LARGEFILE, NOFOLLOW};

/// The number `text` names (`O_RDONLY|O_CLOEXEC`); `None` when a part is no
/// flag name.
pub fn parse(text: &str) -> Option<i64> {
    text.split('|').try_fold(0, |flags, name| {
        let (_, value) = NAMES.iter().find(|(n, _)| *n == name.trim())?;
        Some(flags | value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracee_strings_map_back_to_numbers() {
        assert_eq!(parse("O_RDONLY"), Some(0));
        assert_eq!(parse("O_WRONLY|O_CREAT|O_TRUNC"), Some(0o1101));
        assert_eq!(parse("O_RDWR|O_CLOEXEC"), Some(0o2000002));
        assert_eq!(
            parse("O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC"),
            Some(0o4000 | DIRECTORY | 0o2000000)
        );
        assert_eq!(parse("O_WRONLY|O_BOGUS"), None);
        assert_eq!(parse(""), None);
    }
}
