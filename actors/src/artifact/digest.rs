//! SHA-256 content digests (`sha256:<64 hex>`), computed while data streams through.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub(crate) fn of_bytes(bytes: &[u8]) -> String {
    finish(Sha256::new_with_prefix(bytes))
}

/// The `sha256:<hex>` form of a finished hash.
fn finish(hasher: Sha256) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hasher.finalize().iter() {
        // Two lower-case hex digits per byte, as the OCI digest grammar requires.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// The hex part of a `sha256:<64 lower-case hex>` digest, or why it is not one.
///
/// Digests name files in a directory store, so anything else (another algorithm, a `/`, a
/// `..`) is refused before it gets near a path.
pub(crate) fn sha256_hex(digest: &str) -> Result<&str, String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        _ => Err(format!("`{digest}` is not a sha256 digest (sha256:<64 lower-case hex digits>)")),
    }
}

/// A writer that hashes and counts everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    /// The wrapped writer, the digest and the byte count of what went through.
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, finish(self.hasher), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), count: 0 }
    }

    /// Reads what is left (so the digest covers the whole stream), then returns the digest and
    /// the byte count.
    pub(crate) fn drain(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((finish(self.hasher), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_digest_of_known_values() {
        // The empty config `{}` every ORAS artifact points at.
        assert_eq!(of_bytes(b"{}"), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"{").unwrap();
        w.write_all(b"}").unwrap();
        let (inner, digest, count) = w.finish();
        assert_eq!((inner.as_slice(), digest.as_str(), count), (&b"{}"[..], of_bytes(b"{}").as_str(), 2));
        let mut r = HashingReader::new(&b"{}"[..]);
        let mut first = [0u8; 1];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.drain().unwrap(), (of_bytes(b"{}"), 2));
    }

    #[test]
    fn artifact_digest_hex_is_validated() {
        let d = of_bytes(b"x");
        assert_eq!(sha256_hex(&d).unwrap(), &d[7..]);
        for bad in ["sha512:00", "sha256:../../etc", "sha256:ABC", "", &d.to_uppercase(), &format!("{d}0")] {
            assert!(sha256_hex(bad).is_err(), "{bad}");
        }
    }
}
