//! Byte-string edits for property tests of the decoders, shared by the test crates that use them
//! (included with `#[path]`).

/// One edit of a byte string: (op, position, byte). Positions wrap around the current length.
pub type Mutation = (u8, usize, u8);

/// Applies xor / overwrite / insert / delete edits, then an optional truncation.
pub fn mutate(base: &[u8], edits: &[Mutation], cut: Option<usize>) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(op, pos, byte) in edits {
        match op {
            0 if !v.is_empty() => {
                let i = pos % v.len();
                v[i] ^= byte | 1;
            }
            1 if !v.is_empty() => {
                let i = pos % v.len();
                v[i] = byte;
            }
            2 => {
                let i = pos % (v.len() + 1);
                v.insert(i, byte);
            }
            3 if !v.is_empty() => {
                let i = pos % v.len();
                v.remove(i);
            }
            _ => {}
        }
    }
    if let Some(c) = cut {
        v.truncate(c % (v.len() + 1));
    }
    v
}
