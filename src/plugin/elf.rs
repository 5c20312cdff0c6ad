//! Reads a plugin file's dynamic symbol table (ELF, 32 or 64 bits, either byte order)
//! without loading it, so the host knows which ABI the plugin was built for before any of
//! its code runs: `dlopen` runs a library's constructors, which an old or foreign library
//! may have. Our own reader, not the `object` crate: we need one table of one format, and
//! these hundred lines keep a dependency and its build time out of the server.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// `SHT_DYNSYM`: the dynamic symbol table, what `dlsym` searches.
const SHT_DYNSYM: u32 = 11;
/// `ET_DYN`: a shared object (a `cdylib`, or a position-independent executable).
const ET_DYN: u16 = 3;
/// `SHN_UNDEF`: a symbol the file imports rather than defines.
const SHN_UNDEF: u16 = 0;
/// Section tables larger than this are not a plugin's (a bound on what a bad file makes
/// us allocate).
const MAX_TABLE: u64 = 256 << 20;

/// The names of the symbols `file` defines in its dynamic symbol table that satisfy
/// `wanted`. `Err` says why the file is not an ELF shared object.
pub(crate) fn defined_symbols(
    file: &File,
    wanted: impl Fn(&[u8]) -> bool,
) -> Result<Vec<Vec<u8>>, String> {
    let elf = Elf::read(file)?;
    let mut found = Vec::new();
    for section in 0..elf.sections {
        let header = elf.section(file, section)?;
        if header.kind != SHT_DYNSYM {
            continue;
        }
        let symbols = elf.table(file, &header)?;
        let names = elf.table(file, &elf.section(file, header.link)?)?;
        let size = if elf.wide { 24 } else { 16 };
        for symbol in symbols.chunks_exact(size) {
            let (name, shndx) = if elf.wide {
                (elf.u32(symbol, 0), elf.u16(symbol, 6))
            } else {
                (elf.u32(symbol, 0), elf.u16(symbol, 14))
            };
            let name = names
                .get(name as usize..)
                .and_then(|rest| rest.split(|&b| b == 0).next())
                .unwrap_or_default();
            if shndx != SHN_UNDEF && wanted(name) {
                found.push(name.to_vec());
            }
        }
    }
    Ok(found)
}

/// What the ELF header says about the section headers.
struct Elf {
    wide: bool,
    little: bool,
    len: u64,
    section_offset: u64,
    section_size: u64,
    sections: u32,
}

/// The fields of a section header we use.
struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
}

impl Elf {
    fn read(file: &File) -> Result<Elf, String> {
        let len = file.metadata().map_err(|error| error.to_string())?.len();
        let mut head = [0u8; 64];
        let short = "not an ELF shared object (too short)";
        file.read_exact_at(&mut head[..52.min(len as usize)], 0)
            .map_err(|_| short.to_owned())?;
        if len < 52 || head[..4] != *b"\x7fELF" {
            return Err("not an ELF shared object".to_owned());
        }
        let wide = match head[4] {
            1 => false,
            2 => true,
            _ => return Err("not an ELF shared object (unknown class)".to_owned()),
        };
        let little = match head[5] {
            1 => true,
            2 => false,
            _ => return Err("not an ELF shared object (unknown byte order)".to_owned()),
        };
        if wide {
            file.read_exact_at(&mut head, 0)
                .map_err(|_| short.to_owned())?;
        }
        let mut elf = Elf {
            wide,
            little,
            len,
            section_offset: 0,
            section_size: 0,
            sections: 0,
        };
        let kind = elf.u16(&head, 0x10);
        if kind != ET_DYN {
            let what = match kind {
                1 => "a relocatable object",
                2 => "an executable",
                4 => "a core dump",
                _ => "of an unknown type",
            };
            return Err(format!("an ELF file, but {what}, not a shared object"));
        }
        let (offset, size, count) = if wide {
            (
                elf.u64(&head, 0x28),
                elf.u16(&head, 0x3a),
                elf.u16(&head, 0x3c),
            )
        } else {
            (
                u64::from(elf.u32(&head, 0x20)),
                elf.u16(&head, 0x2e),
                elf.u16(&head, 0x30),
            )
        };
        if usize::from(size) < if wide { 64 } else { 40 } && count > 0 {
            return Err("not an ELF file (bad section header size)".to_owned());
        }
        elf.section_offset = offset;
        elf.section_size = u64::from(size);
        elf.sections = u32::from(count);
        Ok(elf)
    }

    fn section(&self, file: &File, index: u32) -> Result<Section, String> {
        if index >= self.sections {
            return Err(format!("bad ELF file (no section {index})"));
        }
        let mut raw = [0u8; 64];
        let raw = &mut raw[..if self.wide { 64 } else { 40 }];
        let at = self.section_offset + u64::from(index) * self.section_size;
        file.read_exact_at(raw, at)
            .map_err(|_| format!("truncated ELF file (section header {index})"))?;
        Ok(if self.wide {
            Section {
                kind: self.u32(raw, 4),
                offset: self.u64(raw, 24),
                size: self.u64(raw, 32),
                link: self.u32(raw, 40),
            }
        } else {
            Section {
                kind: self.u32(raw, 4),
                offset: u64::from(self.u32(raw, 16)),
                size: u64::from(self.u32(raw, 20)),
                link: self.u32(raw, 24),
            }
        })
    }

    fn table(&self, file: &File, section: &Section) -> Result<Vec<u8>, String> {
        let end = section.offset.checked_add(section.size);
        if section.size > MAX_TABLE || end.is_none_or(|end| end > self.len) {
            return Err("truncated ELF file (a section ends past the file)".to_owned());
        }
        let mut bytes = vec![0; section.size as usize];
        file.read_exact_at(&mut bytes, section.offset)
            .map_err(|error| error.to_string())?;
        Ok(bytes)
    }

    /// `N` bytes at `at`, in little-endian order.
    fn le<const N: usize>(&self, bytes: &[u8], at: usize) -> [u8; N] {
        let mut raw = [0; N];
        raw.copy_from_slice(&bytes[at..at + N]);
        if !self.little {
            raw.reverse();
        }
        raw
    }

    fn u16(&self, bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(self.le(bytes, at))
    }

    fn u32(&self, bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(self.le(bytes, at))
    }

    fn u64(&self, bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(self.le(bytes, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_test_binary_and_refuses_other_files() {
        // The running test binary is an ELF file; it defines no apiphant entry symbol.
        let me = std::env::current_exe().unwrap_or_default();
        let me = File::open(me).expect("the test binary");
        let found = defined_symbols(&me, |name| name.starts_with(b"apiphant_plugin"));
        assert_eq!(found, Ok(Vec::new()));
        let dir = std::env::temp_dir().join(format!("apiphant-elf-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for (name, bytes) in [
            ("text", &b"this is not an ELF file\n"[..]),
            ("empty", b""),
            ("head", b"\x7fELF\x02\x01\x01"),
        ] {
            let path = dir.join(name);
            let _ = std::fs::write(&path, bytes);
            let result = File::open(&path).map_err(|e| e.to_string());
            let result = result.and_then(|file| defined_symbols(&file, |_| true));
            assert!(result.is_err_and(|why| why.contains("ELF")), "{name}");
        }
        // An ELF file of another type: a relocatable object (the 64-bit header, type 1).
        let mut object = vec![0u8; 64];
        object[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        object[0x10] = 1;
        let path = dir.join("object.o");
        let _ = std::fs::write(&path, &object);
        let file = File::open(&path).expect("written");
        let result = defined_symbols(&file, |_| true);
        assert_eq!(
            result,
            Err("an ELF file, but a relocatable object, not a shared object".to_owned())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
