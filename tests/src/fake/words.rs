//! Deterministic text shared by the fakes: a seed mixer and a vocabulary,
//! so the same flags always give the same dataset.

/// splitmix64 finaliser.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A version-4 UUID (lower-case hex) made of two hashes.
pub fn uuid_v4(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Words titles and bodies are made of.
pub const WORDS: &[&str] = &[
    "alpha", "bravo", "cargo", "delta", "ember", "fjord", "gamma", "harbor", "island", "jasper",
    "kernel", "lumen", "meadow", "nectar", "orbit", "prism", "quartz", "river", "signal", "timber",
    "umbra", "vector", "willow", "xenon", "yonder", "zephyr", "anchor", "beacon", "canyon",
    "dynamo", "echo", "falcon", "glacier", "horizon", "ivory", "jungle", "kayak", "lantern",
    "mosaic", "nimbus", "oasis", "pepper", "quiver", "raven", "saffron", "tundra", "utopia",
    "velvet", "wander", "yarrow", "zenith", "sync", "record", "plugin", "ledger", "stream",
    "bucket", "cursor", "window", "socket", "buffer", "thread", "module", "schema",
];
