//! The signature's version is a build input (`SIGBOX_SIGNATURE_VERSION`, read
//! with `option_env!`): rebuild when it changes, and only then.
fn main() {
    println!("cargo:rerun-if-env-changed=SIGBOX_SIGNATURE_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
}
