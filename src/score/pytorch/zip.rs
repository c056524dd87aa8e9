//! A bounded reader for the uncompressed ("stored") zip archives that `torch.save` writes.
//!
//! Only what PyTorch produces is accepted: stored entries (no compression), optional zip64
//! records, one archive on one disk. Every size and offset read from the file is checked against
//! the file's length before anything is allocated, and every entry read is checked against the
//! CRC-32 of its central-directory record, so truncated and bit-flipped files are reported with
//! the entry or offset at fault instead of being loaded.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
/// End-of-central-directory record without its comment.
const EOCD_LEN: u64 = 22;
/// The longest zip comment, so the furthest an end record can sit from the end of the file.
const MAX_COMMENT: u64 = 65_535;

/// One file inside the archive.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Its name, e.g. `archive/data/0`.
    pub name: String,
    /// Offset of its local header.
    header_offset: u64,
    /// Stored size in bytes.
    pub size: u64,
    /// Compression method (0 = stored).
    method: u16,
    /// CRC-32 of the contents.
    crc: u32,
}

/// What an archive is read from: a file, or bytes already in memory.
trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

/// An opened archive: the central directory is read and checked, contents are read on demand.
pub(crate) struct Archive {
    file: Box<dyn Source>,
    path: PathBuf,
    len: u64,
    entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Archive {
    /// Opens `path` and reads its central directory.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Self::read_from(Box::new(file), path, len)
    }

    /// Reads an archive held in memory; `path` names it in messages.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let len = bytes.len() as u64;
        Self::read_from(Box::new(Cursor::new(bytes)), path, len)
    }

    fn read_from(file: Box<dyn Source>, path: &Path, len: u64) -> Result<Self> {
        let mut archive = Archive {
            file,
            path: path.to_path_buf(),
            len,
            entries: Vec::new(),
        };
        let head = archive.read_at(0, len.min(4))?;
        if head.first() == Some(&0x80) {
            return Err(archive.err(
                "a legacy (pre-1.6, non-zip) PyTorch file; load it in PyTorch and save it again with \
                 torch.save(obj, path) to get the zip format"
                    .into(),
            ));
        }
        if head.as_slice() != b"PK\x03\x04" {
            return Err(archive.err(format!(
                "not a PyTorch checkpoint: a zip archive starts with `PK\\x03\\x04`, this file starts with {head:02x?}"
            )));
        }
        archive.read_central_directory()?;
        Ok(archive)
    }

    /// The entries, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `name`, if any.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    fn err(&self, message: String) -> Error {
        Error::Format {
            path: self.path.clone(),
            message,
        }
    }

    /// `n` bytes at `offset`, after checking that they lie inside the file.
    fn read_at(&mut self, offset: u64, n: u64) -> Result<Vec<u8>> {
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(self.err(format!(
                "truncated: {n} bytes at offset {offset} lie beyond the end of the file ({} bytes)",
                self.len
            )));
        }
        let path = self.path.clone();
        let mut buf = vec![0u8; n as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&path, e))?;
        self.file
            .read_exact(&mut buf)
            .map_err(|e| Error::io(&path, e))?;
        Ok(buf)
    }

    fn read_central_directory(&mut self) -> Result<()> {
        if self.len < EOCD_LEN {
            return Err(self.err(format!(
                "truncated: {} bytes cannot hold a zip directory",
                self.len
            )));
        }
        let tail_len = self.len.min(EOCD_LEN + MAX_COMMENT);
        let tail_start = self.len - tail_len;
        let tail = self.read_at(tail_start, tail_len)?;
        let eocd = (0..=tail.len() - EOCD_LEN as usize)
            .rev()
            .find(|&i| u32_at(&tail, i) == EOCD_SIG && i + EOCD_LEN as usize + u16_at(&tail, i + 20) as usize == tail.len())
            .ok_or_else(|| {
                self.err(
                    "truncated or not a zip archive: no end-of-central-directory record at the end of the file"
                        .into(),
                )
            })?;
        let eocd_offset = tail_start + eocd as u64;
        let mut count = u16_at(&tail, eocd + 10) as u64;
        let mut cd_size = u32_at(&tail, eocd + 12) as u64;
        let mut cd_offset = u32_at(&tail, eocd + 16) as u64;
        if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            (count, cd_size, cd_offset) = self.zip64_directory(eocd_offset)?;
        }
        if cd_offset
            .checked_add(cd_size)
            .is_none_or(|end| end > eocd_offset)
        {
            return Err(self.err(format!(
                "corrupt zip directory: {cd_size} bytes at offset {cd_offset} overlap the end record at {eocd_offset}"
            )));
        }
        // a central record takes at least 46 bytes: bound the count before allocating
        if count > cd_size / 46 {
            return Err(self.err(format!(
                "corrupt zip directory: {count} entries cannot fit in {cd_size} bytes"
            )));
        }
        let cd = self.read_at(cd_offset, cd_size)?;
        let mut at = 0usize;
        let mut entries = Vec::with_capacity(count as usize);
        for index in 0..count {
            let bad = |what: &str| {
                self.err(format!(
                    "corrupt zip directory: entry {index} at offset {}: {what}",
                    cd_offset + at as u64
                ))
            };
            if at + 46 > cd.len() || u32_at(&cd, at) != CENTRAL_SIG {
                return Err(bad("no central-directory signature"));
            }
            let method = u16_at(&cd, at + 10);
            let crc = u32_at(&cd, at + 16);
            let mut size = u32_at(&cd, at + 24) as u64;
            let compressed = u32_at(&cd, at + 20) as u64;
            let name_len = u16_at(&cd, at + 28) as usize;
            let extra_len = u16_at(&cd, at + 30) as usize;
            let comment_len = u16_at(&cd, at + 32) as usize;
            let mut header_offset = u32_at(&cd, at + 42) as u64;
            let end = at + 46 + name_len + extra_len + comment_len;
            if end > cd.len() {
                return Err(bad("name or extra field runs past the directory"));
            }
            let name = String::from_utf8(cd[at + 46..at + 46 + name_len].to_vec())
                .map_err(|_| bad("entry name is not UTF-8"))?;
            // zip64 extended information: 8-byte values for the fields saturated above, in order
            let extra = &cd[at + 46 + name_len..at + 46 + name_len + extra_len];
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, n) = (u16_at(extra, e), u16_at(extra, e + 2) as usize);
                let body = extra
                    .get(e + 4..e + 4 + n)
                    .ok_or_else(|| bad("truncated extra field"))?;
                if id == 1 {
                    let mut f = 0;
                    let mut next = |field: &mut u64| -> Result<()> {
                        if *field == 0xFFFF_FFFF {
                            if f + 8 > body.len() {
                                return Err(bad("truncated zip64 field"));
                            }
                            *field = u64_at(body, f);
                            f += 8;
                        }
                        Ok(())
                    };
                    next(&mut size)?;
                    let mut c = compressed;
                    next(&mut c)?;
                    next(&mut header_offset)?;
                }
                e += 4 + n;
            }
            entries.push(Entry {
                name,
                header_offset,
                size,
                method,
                crc,
            });
            at = end;
        }
        self.entries = entries;
        Ok(())
    }

    /// (entries, directory size, directory offset) from the zip64 end record.
    fn zip64_directory(&mut self, eocd_offset: u64) -> Result<(u64, u64, u64)> {
        let locator_offset = eocd_offset
            .checked_sub(20)
            .ok_or_else(|| self.err("corrupt zip: zip64 values without a zip64 locator".into()))?;
        let locator = self.read_at(locator_offset, 20)?;
        if u32_at(&locator, 0) != ZIP64_LOCATOR_SIG {
            return Err(self.err(format!(
                "corrupt zip: no zip64 locator at offset {locator_offset}"
            )));
        }
        let record_offset = u64_at(&locator, 8);
        let record = self.read_at(record_offset, 56)?;
        if u32_at(&record, 0) != ZIP64_EOCD_SIG {
            return Err(self.err(format!(
                "corrupt zip: no zip64 end record at offset {record_offset}"
            )));
        }
        Ok((
            u64_at(&record, 32),
            u64_at(&record, 40),
            u64_at(&record, 48),
        ))
    }

    /// The whole contents of `entry`, checked against its CRC-32.
    pub fn read(&mut self, entry: &Entry) -> Result<Vec<u8>> {
        if entry.method != 0 {
            return Err(self.err(format!(
                "entry `{}` is compressed (method {}); PyTorch stores entries uncompressed",
                entry.name, entry.method
            )));
        }
        let local = self.read_at(entry.header_offset, 30)?;
        if u32_at(&local, 0) != LOCAL_SIG {
            return Err(self.err(format!(
                "corrupt zip: entry `{}` has no local header at offset {}",
                entry.name, entry.header_offset
            )));
        }
        let start =
            entry.header_offset + 30 + u16_at(&local, 26) as u64 + u16_at(&local, 28) as u64;
        let data = self.read_at(start, entry.size).map_err(|_| {
            self.err(format!(
                "truncated: entry `{}` needs {} bytes at offset {start}, the file has {}",
                entry.name, entry.size, self.len
            ))
        })?;
        let crc = crc32(&data);
        if crc != entry.crc {
            return Err(self.err(format!(
                "entry `{}` is corrupted: CRC-32 {crc:08x}, the directory records {:08x}",
                entry.name, entry.crc
            )));
        }
        Ok(data)
    }
}

/// The CRC-32 (IEEE 802.3, reflected) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 of `data` as zip records it.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// A zip archive of stored (uncompressed) entries laid out as `torch.save` writes them (no zip64),
/// for tests and fuzzing harnesses.
pub(crate) fn stored_archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (offset, crc, size) = (out.len() as u32, crc32(data), data.len() as u32);
        let name_len = name.len() as u16;
        // local header: version, flags, method, time, date, CRC, sizes, name and extra lengths
        out.extend(LOCAL_SIG.to_le_bytes());
        for v in [20u16, 0, 0, 0, 0] {
            out.extend(v.to_le_bytes());
        }
        for v in [crc, size, size] {
            out.extend(v.to_le_bytes());
        }
        out.extend(name_len.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(*data);
        // central record: made-by, needed, flags, method, time, date, CRC, sizes, lengths, disk,
        // attributes, local-header offset
        central.extend(CENTRAL_SIG.to_le_bytes());
        for v in [20u16, 20, 0, 0, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        for v in [crc, size, size] {
            central.extend(v.to_le_bytes());
        }
        for v in [name_len, 0, 0, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let (cd_offset, cd_size, count) =
        (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend(central);
    out.extend(EOCD_SIG.to_le_bytes());
    for v in [0u16, 0, count, count] {
        out.extend(v.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_known_strings() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn rejects_non_zip_and_legacy_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pth");
        std::fs::write(&p, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
        let e = Archive::open(&p).err().unwrap().to_string();
        assert!(e.contains("legacy") && e.contains("x.pth"), "{e}");
        std::fs::write(&p, b"{\"hello\": 1}").unwrap();
        let e = Archive::open(&p).err().unwrap().to_string();
        assert!(e.contains("not a PyTorch checkpoint"), "{e}");
        std::fs::write(&p, b"PK\x03\x04 and then nothing that ends a zip archive").unwrap();
        let e = Archive::open(&p).err().unwrap().to_string();
        assert!(e.contains("no end-of-central-directory"), "{e}");
    }

    #[test]
    fn stored_archives_read_back() {
        let bytes = stored_archive(&[("a/data.pkl", b"\x80\x02N."), ("a/data/0", &[7; 12])]);
        let mut archive = Archive::from_bytes(bytes, Path::new("m.pth")).unwrap();
        let names: Vec<String> = archive.entries().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["a/data.pkl", "a/data/0"]);
        let entry = archive.entry("a/data/0").cloned().unwrap();
        assert_eq!(archive.read(&entry).unwrap(), [7; 12]);
    }
}
