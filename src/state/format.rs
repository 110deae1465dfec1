//! The state file's bytes: two slots, each one page holding one checksummed record, and the recovery rule
//! that picks what to resume from. Pure: bytes in, records out; `file.rs` does the I/O.
//!
//! ```text
//! offset 0      slot 0: record (80 bytes), rest of the page zero
//! offset 4096   slot 1: record (80 bytes), rest of the page zero
//!
//! record, little-endian:
//!   0  magic "CNTRSTAT"        8  version u32 (1)     12  flags u32 (bit 0: clean stop)
//!  16  sequence u64 (slot = sequence % 2)
//!  24  /status:   floor u64, ceiling u64, last_changed u64
//!  48  /statusV2: floor u64, ceiling u64, last_changed u64
//!  72  reserved u32 (0)      76  CRC-32C of bytes 0..76
//! ```
//! `ceiling`: no value above it was handed out while this record was on disk. `floor`: the counter's value
//! when the record was written (a clean stop writes floor = ceiling = the exact value). Each slot is its own
//! page, so a torn write or a failed writeback of one never touches the other.

/// Identifies a counter state file; anything else at offset 0 and 4096 is a foreign file.
pub const MAGIC: [u8; 8] = *b"CNTRSTAT";
/// The record layout above. A later layout bumps it; this build refuses any other (it cannot know what a newer
/// record promises), and a later build can read this one by its version.
pub const VERSION: u32 = 1;
pub const SLOT_BYTES: usize = 4096;
pub const SLOTS: usize = 2;
pub const FILE_BYTES: usize = SLOT_BYTES * SLOTS;
pub const RECORD_BYTES: usize = 80;
const CRC_AT: usize = 76;
const FLAG_CLEAN: u32 = 1;

/// One counter's marks in a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub floor: u64,
    pub ceiling: u64,
    pub last_changed: u64,
}

/// One slot's record: index 0 of `counters` is `/status`, 1 is `/statusV2`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub sequence: u64,
    pub clean: bool,
    pub counters: [Mark; 2],
}

/// Why a slot's bytes are not a record this build can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// The file ends before the record does (truncated).
    Short,
    /// All zero: never written, or zeroed.
    Zeroed,
    /// Not our magic number: not a counter state file.
    Foreign,
    /// The checksum does not match: a torn write or a damaged sector.
    Checksum,
    /// Our magic and a valid checksum, but a version this build does not read.
    Version(u32),
    /// Checksummed but impossible (unknown flags, floor above ceiling, a sequence in the other slot's place).
    Invalid,
}

impl std::fmt::Display for SlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotError::Short => write!(f, "truncated"),
            SlotError::Zeroed => write!(f, "all zero"),
            SlotError::Foreign => write!(f, "not a counter state record (wrong magic number)"),
            SlotError::Checksum => write!(f, "checksum mismatch (torn or damaged)"),
            SlotError::Version(v) => write!(f, "format version {v}, this build reads version {VERSION}"),
            SlotError::Invalid => write!(f, "inconsistent record"),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

pub fn encode(r: &Record) -> [u8; RECORD_BYTES] {
    let mut b = [0u8; RECORD_BYTES];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&(if r.clean { FLAG_CLEAN } else { 0 }).to_le_bytes());
    b[16..24].copy_from_slice(&r.sequence.to_le_bytes());
    for (i, m) in r.counters.iter().enumerate() {
        let at = 24 + i * 24;
        b[at..at + 8].copy_from_slice(&m.floor.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&m.ceiling.to_le_bytes());
        b[at + 16..at + 24].copy_from_slice(&m.last_changed.to_le_bytes());
    }
    let crc = crc32c(&b[..CRC_AT]);
    b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Decodes the record at the start of slot `slot`'s bytes (which may be cut short by the end of the file).
pub fn decode(slot: usize, bytes: &[u8]) -> Result<Record, SlotError> {
    if bytes.len() < RECORD_BYTES {
        let n = bytes.len().min(MAGIC.len());
        return Err(if bytes.is_empty() {
            SlotError::Short
        } else if bytes.iter().all(|&b| b == 0) {
            SlotError::Zeroed
        } else if bytes[..n] != MAGIC[..n] {
            SlotError::Foreign
        } else {
            SlotError::Short
        });
    }
    let b = &bytes[..RECORD_BYTES];
    if b.iter().all(|&x| x == 0) {
        return Err(SlotError::Zeroed);
    }
    if b[0..8] != MAGIC {
        return Err(SlotError::Foreign);
    }
    if crc32c(&b[..CRC_AT]) != u32_at(b, CRC_AT) {
        return Err(SlotError::Checksum);
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(SlotError::Version(version));
    }
    let flags = u32_at(b, 12);
    let mut r = Record { sequence: u64_at(b, 16), clean: flags & FLAG_CLEAN != 0, counters: [Mark::default(); 2] };
    for (i, m) in r.counters.iter_mut().enumerate() {
        let at = 24 + i * 24;
        *m = Mark { floor: u64_at(b, at), ceiling: u64_at(b, at + 8), last_changed: u64_at(b, at + 16) };
    }
    let consistent = flags & !FLAG_CLEAN == 0
        && u32_at(b, 72) == 0
        && r.sequence % SLOTS as u64 == slot as u64
        && r.counters.iter().all(|m| m.floor <= m.ceiling);
    if !consistent {
        return Err(SlotError::Invalid);
    }
    Ok(r)
}

/// What a state file says to resume from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Per counter: the highest ceiling of the valid slots (every value handed out is at or below it), with the
    /// highest floor and last change.
    pub counters: [Mark; 2],
    /// Both valid slots say the last run stopped cleanly: `ceiling` is the exact last value.
    pub clean: bool,
    /// The highest sequence seen: the next write goes to the other slot.
    pub sequence: u64,
    /// A slot that could not be used, and why (the other one was): said in the startup log.
    pub damaged: Option<(usize, SlotError)>,
}

/// Picks what to resume from, or says why the file cannot be trusted.
///
/// The writer keeps the ceiling in use at or below *both* slots (`state/mod.rs`), so any one valid slot bounds
/// every value handed out: a torn write of one slot, or damage to one slot, loses nothing. Both slots unusable,
/// a foreign file, or a newer format: refused, never a fresh start.
pub fn recover(bytes: &[u8]) -> Result<Recovered, String> {
    if bytes.is_empty() {
        return Err("empty (0 bytes): this program never leaves an empty state file".to_string());
    }
    let slot = |i: usize| decode(i, bytes.get(i * SLOT_BYTES..).unwrap_or(&[]));
    let slots = [slot(0), slot(1)];
    if let Some(Err(SlotError::Version(v))) = slots.iter().find(|s| matches!(s, Err(SlotError::Version(_)))) {
        return Err(format!("written in format version {v}; this build reads version {VERSION} only"));
    }
    let valid: Vec<(usize, Record)> = slots.iter().enumerate().filter_map(|(i, s)| s.ok().map(|r| (i, r))).collect();
    let damaged = slots.iter().enumerate().find_map(|(i, s)| s.err().map(|e| (i, e)));
    match (&slots[0], &slots[1]) {
        (Err(SlotError::Foreign), Err(SlotError::Foreign | SlotError::Short)) => {
            return Err("not a counter state file (no magic number in either slot)".to_string());
        }
        (Err(a), Err(b)) => return Err(format!("no usable slot: slot 0 {a}, slot 1 {b}")),
        _ => {}
    }
    let mut counters = [Mark::default(); 2];
    for (c, mark) in counters.iter_mut().enumerate() {
        for (_, r) in &valid {
            let m = r.counters[c];
            mark.ceiling = mark.ceiling.max(m.ceiling);
            mark.floor = mark.floor.max(m.floor);
            mark.last_changed = mark.last_changed.max(m.last_changed);
        }
    }
    Ok(Recovered {
        counters,
        clean: valid.iter().all(|(_, r)| r.clean),
        sequence: valid.iter().map(|(_, r)| r.sequence).max().unwrap_or(0),
        damaged,
    })
}

/// CRC-32C (Castagnoli), the checksum of ext4's metadata, iSCSI and LevelDB's log: bit-reflected, polynomial
/// 0x82F63B78. Table-driven; the table is computed at compile time.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: u64, ceilings: [u64; 2]) -> Record {
        let mark = |c| Mark { floor: c / 2, ceiling: c, last_changed: 1_700_000_000 };
        Record { sequence, clean: false, counters: [mark(ceilings[0]), mark(ceilings[1])] }
    }

    fn file(a: &Record, b: &Record) -> Vec<u8> {
        let mut f = vec![0u8; FILE_BYTES];
        f[..RECORD_BYTES].copy_from_slice(&encode(a));
        f[SLOT_BYTES..SLOT_BYTES + RECORD_BYTES].copy_from_slice(&encode(b));
        f
    }

    #[test]
    fn crc32c_known_answer() {
        // RFC 3720 (iSCSI) B.4 and the common check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn round_trip_and_recovery_takes_the_highest_ceiling() {
        let (a, b) = (record(4, [100, 50]), record(5, [200, 40]));
        assert_eq!(decode(0, &encode(&a)), Ok(a));
        let r = recover(&file(&a, &b)).unwrap();
        assert_eq!((r.counters[0].ceiling, r.counters[1].ceiling, r.sequence, r.clean), (200, 50, 5, false));
        assert_eq!(r.damaged, None);
    }

    #[test]
    fn a_damaged_slot_leaves_the_other() {
        let (a, b) = (record(4, [100, 50]), record(5, [200, 60]));
        for (at, expect) in [(0, 200), (SLOT_BYTES, 100)] {
            let mut torn = file(&a, &b);
            torn[at + 30] ^= 0x40;
            let r = recover(&torn).unwrap();
            assert_eq!((r.counters[0].ceiling, r.damaged), (expect, Some((at / SLOT_BYTES, SlotError::Checksum))));
            let mut zeroed = file(&a, &b);
            zeroed[at..at + SLOT_BYTES].fill(0);
            assert_eq!(recover(&zeroed).unwrap().counters[0].ceiling, expect);
        }
        let cut = file(&a, &b);
        assert_eq!(recover(&cut[..SLOT_BYTES + 10]).unwrap().damaged, Some((1, SlotError::Short)));
    }

    #[test]
    fn refusals() {
        let (a, b) = (record(4, [100, 50]), record(5, [200, 60]));
        assert!(recover(&[]).unwrap_err().contains("empty"));
        assert!(recover(b"hello").unwrap_err().contains("not a counter state file"));
        assert!(recover(&encode(&a)[..40]).unwrap_err().contains("truncated"));
        assert!(recover(&vec![0; FILE_BYTES]).unwrap_err().contains("all zero"));
        assert!(recover(&vec![b'x'; FILE_BYTES]).unwrap_err().contains("not a counter state file"));
        let mut both = file(&a, &b);
        both[10] ^= 1;
        both[SLOT_BYTES + 40] ^= 1;
        assert!(recover(&both).unwrap_err().contains("checksum"));
        let mut newer = file(&a, &b);
        newer[SLOT_BYTES + 8] = 2;
        let crc = crc32c(&newer[SLOT_BYTES..SLOT_BYTES + CRC_AT]);
        newer[SLOT_BYTES + CRC_AT..SLOT_BYTES + RECORD_BYTES].copy_from_slice(&crc.to_le_bytes());
        assert!(recover(&newer).unwrap_err().contains("version 2"));
        // A record copied into the other slot's place is not trusted there.
        assert_eq!(decode(1, &encode(&a)), Err(SlotError::Invalid));
    }
}
