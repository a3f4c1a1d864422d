//! A restricted unpickler for the data files of the Python skeleton tools (ST-GCN's label pickles, pyskl and
//! mmaction2 annotation pickles): pickle protocols 2 to 5, and of Python's globals only those that rebuild
//! NumPy arrays and byte strings (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`,
//! `numpy.core.multiarray.scalar`, their `numpy._core` names, and `_codecs.encode`). Any other global is
//! refused before anything is built: a pickle never runs code here. Every length is checked against the
//! bytes left, and shared references are expanded within a budget tied to the file's size, so a crafted file
//! cannot make memory grow without bound.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A value read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Array(NdArray),
}

/// A NumPy array: its shape, element type (`f2`, `f4`, `f8`, `i8`, …), byte order and raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub kind: String,
    pub little_endian: bool,
    pub fortran: bool,
    pub data: Vec<u8>,
}

impl NdArray {
    /// The elements as f32 in C order (f2, f4, f8 and integer arrays).
    pub fn to_f32(&self) -> Result<Vec<f32>, String> {
        if self.fortran && self.shape.len() > 1 {
            return Err("Fortran-ordered arrays are not supported".into());
        }
        let le = self.little_endian;
        let conv = |b: &[u8]| -> f64 {
            macro_rules! num {
                ($t:ty) => {{
                    let a = b.try_into().expect("chunk of the item size");
                    (if le {
                        <$t>::from_le_bytes(a)
                    } else {
                        <$t>::from_be_bytes(a)
                    }) as f64
                }};
            }
            match self.kind.as_str() {
                "f2" => {
                    let a = b.try_into().expect("two bytes");
                    half_to_f32(if le {
                        u16::from_le_bytes(a)
                    } else {
                        u16::from_be_bytes(a)
                    }) as f64
                }
                "f4" => num!(f32),
                "f8" => num!(f64),
                "i4" => num!(i32),
                "i8" => num!(i64),
                "u1" => b[0] as f64,
                _ => f64::NAN,
            }
        };
        let size = item_size(&self.kind)
            .ok_or_else(|| format!("arrays of '{}' are not supported", self.kind))?;
        Ok(self
            .data
            .chunks_exact(size)
            .map(|c| conv(c) as f32)
            .collect())
    }
}

fn item_size(kind: &str) -> Option<usize> {
    Some(match kind {
        "f2" => 2,
        "f4" | "i4" => 4,
        "f8" | "i8" => 8,
        "u1" | "b1" | "i1" => 1,
        _ => return None,
    })
}

/// IEEE half → f32.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// The objects the stack holds while reading (shared, as Python's are, so that memo references see later
/// changes).
#[derive(Debug)]
enum Obj {
    V(Value),
    List(Vec<Shared>),
    Tuple(Vec<Shared>),
    Dict(Vec<(Shared, Shared)>),
    /// An allowed callable.
    Global(Allowed),
    /// An array being rebuilt (after `_reconstruct`, before `BUILD`).
    Array(Option<NdArray>),
    /// A dtype (after `numpy.dtype(...)`): kind and byte order.
    Dtype(String, bool),
    Mark,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Allowed {
    Reconstruct,
    Ndarray,
    Dtype,
    Scalar,
    Encode,
}

fn allowed(module: &str, name: &str) -> Option<Allowed> {
    let numpy = matches!(module, "numpy.core.multiarray" | "numpy._core.multiarray");
    match (module, name) {
        (_, "_reconstruct") if numpy => Some(Allowed::Reconstruct),
        (_, "scalar") if numpy => Some(Allowed::Scalar),
        ("numpy", "ndarray") => Some(Allowed::Ndarray),
        ("numpy", "dtype") => Some(Allowed::Dtype),
        ("_codecs", "encode") => Some(Allowed::Encode),
        _ => None,
    }
}

type Shared = Rc<RefCell<Obj>>;

fn new(o: Obj) -> Shared {
    Rc::new(RefCell::new(o))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() - self.pos {
            return Err(format!(
                "truncated: {n} bytes wanted at offset {}, {} left",
                self.pos,
                self.bytes.len() - self.pos
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")) as usize)
    }
    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize)
    }
    fn u64(&mut self) -> Result<usize, String> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
        usize::try_from(v).map_err(|_| format!("length {v} is too large"))
    }
    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("truncated: a line without its end")?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| "a name that is not UTF-8".to_string())
    }
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

/// Read a whole pickle. Errors say what was wrong and where.
pub fn load(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, pos: 0 };
    let mut stack: Vec<Shared> = Vec::new();
    let mut memo: HashMap<usize, Shared> = HashMap::new();
    let pop = |stack: &mut Vec<Shared>| stack.pop().ok_or_else(|| "stack underflow".to_string());
    let pop_mark = |stack: &mut Vec<Shared>| -> Result<Vec<Shared>, String> {
        let at = stack
            .iter()
            .rposition(|o| matches!(*o.borrow(), Obj::Mark))
            .ok_or("MARK missing")?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if !(2..=5).contains(&proto) {
                    return Err(format!(
                        "pickle protocol {proto} is not supported (2 to 5 are)"
                    ));
                }
            }
            0x95 => {
                r.take(8)?;
            }
            b'.' => {
                let top = pop(&mut stack)?;
                let mut budget = 2 * bytes.len() + (1 << 20);
                return plain(&top, &mut budget, 0);
            }
            b'(' => stack.push(new(Obj::Mark)),
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let top = stack.last().ok_or("stack underflow")?.clone();
                stack.push(top);
            }
            b'N' => stack.push(new(Obj::V(Value::None))),
            0x88 => stack.push(new(Obj::V(Value::Bool(true)))),
            0x89 => stack.push(new(Obj::V(Value::Bool(false)))),
            b'J' => {
                let v = i32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
                stack.push(new(Obj::V(Value::Int(v as i64))));
            }
            b'K' => stack.push(new(Obj::V(Value::Int(r.u8()? as i64)))),
            b'M' => stack.push(new(Obj::V(Value::Int(r.u16()? as i64)))),
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    r.u8()? as usize
                } else {
                    r.u32()?
                };
                if n > 8 {
                    return Err(format!(
                        "an integer of {n} bytes at offset {at} is too large"
                    ));
                }
                let b = r.take(n)?;
                let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                    [0xff; 8]
                } else {
                    [0; 8]
                };
                buf[..n].copy_from_slice(b);
                stack.push(new(Obj::V(Value::Int(i64::from_le_bytes(buf)))));
            }
            b'G' => {
                let v = f64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes"));
                stack.push(new(Obj::V(Value::Float(v))));
            }
            0x8c | b'X' | 0x8d => {
                let n = match op {
                    0x8c => r.u8()? as usize,
                    b'X' => r.u32()?,
                    _ => r.u64()?,
                };
                let s = utf8(r.take(n)?)?;
                stack.push(new(Obj::V(Value::Str(s))));
            }
            b'C' | b'B' | 0x8e | 0x96 | b'U' | b'T' => {
                let n = match op {
                    b'C' | b'U' => r.u8()? as usize,
                    b'B' | b'T' => r.u32()?,
                    _ => r.u64()?,
                };
                let b = r.take(n)?.to_vec();
                stack.push(new(Obj::V(Value::Bytes(b))));
            }
            b']' => stack.push(new(Obj::List(vec![]))),
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(new(Obj::List(items)));
            }
            b'a' | b'e' => {
                let items = if op == b'a' {
                    vec![pop(&mut stack)?]
                } else {
                    pop_mark(&mut stack)?
                };
                let list = stack.last().ok_or("APPEND without a list")?;
                match &mut *list.borrow_mut() {
                    Obj::List(l) => l.extend(items),
                    _ => {
                        return Err(format!(
                            "APPEND to something that is not a list at offset {at}"
                        ))
                    }
                }
            }
            b')' => stack.push(new(Obj::Tuple(vec![]))),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(new(Obj::Tuple(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(new(Obj::Tuple(items)));
            }
            b'}' => stack.push(new(Obj::Dict(vec![]))),
            b'd' => {
                let items = pop_mark(&mut stack)?;
                stack.push(new(Obj::Dict(pairs(items)?)));
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = pop(&mut stack)?;
                    let k = pop(&mut stack)?;
                    vec![k, v]
                } else {
                    pop_mark(&mut stack)?
                };
                let dict = stack.last().ok_or("SETITEM without a dict")?;
                match &mut *dict.borrow_mut() {
                    Obj::Dict(d) => d.extend(pairs(items)?),
                    _ => {
                        return Err(format!(
                            "SETITEM on something that is not a dict at offset {at}"
                        ))
                    }
                }
            }
            b'c' => {
                let module = r.line()?.to_string();
                let name = r.line()?;
                stack.push(new(Obj::Global(refuse_or(&module, name)?)));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                let (Obj::V(Value::Str(m)), Obj::V(Value::Str(n))) =
                    (&*module.borrow(), &*name.borrow())
                else {
                    return Err(format!("STACK_GLOBAL without two names at offset {at}"));
                };
                let g = refuse_or(m, n)?;
                stack.push(new(Obj::Global(g)));
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let f = pop(&mut stack)?;
                let g = match &*f.borrow() {
                    Obj::Global(g) => *g,
                    _ => {
                        return Err(format!(
                            "REDUCE of something that is not an allowed global at offset {at}"
                        ))
                    }
                };
                let args = match &*args.borrow() {
                    Obj::Tuple(t) => t.clone(),
                    _ => return Err(format!("REDUCE without an argument tuple at offset {at}")),
                };
                stack.push(new(call(g, &args)?));
            }
            b'b' => {
                let state = pop(&mut stack)?;
                let obj = stack.last().ok_or("BUILD without an object")?;
                let built = build(&obj.borrow(), &state.borrow())?;
                *obj.borrow_mut() = built;
            }
            b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'q' => r.u8()? as usize,
                    b'r' => r.u32()?,
                    _ => memo.len(),
                };
                let top = stack.last().ok_or("PUT with an empty stack")?.clone();
                memo.insert(key, top);
            }
            b'h' | b'j' => {
                let key = if op == b'h' {
                    r.u8()? as usize
                } else {
                    r.u32()?
                };
                let v = memo
                    .get(&key)
                    .ok_or_else(|| format!("memo entry {key} is missing"))?
                    .clone();
                stack.push(v);
            }
            other => {
                return Err(format!(
                    "opcode 0x{other:02x} at offset {at} is not supported by this restricted reader"
                ))
            }
        }
    }
}

fn refuse_or(module: &str, name: &str) -> Result<Allowed, String> {
    allowed(module, name).ok_or_else(|| {
        format!("the pickle asks for {module}.{name}, which this reader refuses (it builds only NumPy arrays and byte strings, and never runs code)")
    })
}

fn pairs(items: Vec<Shared>) -> Result<Vec<(Shared, Shared)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("a dictionary with an odd number of items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn call(g: Allowed, args: &[Shared]) -> Result<Obj, String> {
    let arg = |i: usize| -> Result<std::cell::Ref<'_, Obj>, String> {
        args.get(i)
            .map(|a| a.borrow())
            .ok_or_else(|| "too few arguments".to_string())
    };
    match g {
        Allowed::Reconstruct => match &*arg(0)? {
            Obj::Global(Allowed::Ndarray) => Ok(Obj::Array(None)),
            _ => Err("_reconstruct of something other than numpy.ndarray".into()),
        },
        Allowed::Dtype => match &*arg(0)? {
            Obj::V(Value::Str(s)) => Ok(Obj::Dtype(s.clone(), true)),
            _ => Err("numpy.dtype without a type string".into()),
        },
        Allowed::Encode => match &*arg(0)? {
            // Python 2 byte strings pickled by Python 3: each character is one latin-1 byte.
            Obj::V(Value::Str(s)) => s
                .chars()
                .map(|c| {
                    u8::try_from(c as u32)
                        .map_err(|_| "a non-latin-1 character in a byte string".to_string())
                })
                .collect::<Result<Vec<u8>, _>>()
                .map(|b| Obj::V(Value::Bytes(b))),
            _ => Err("_codecs.encode without a string".into()),
        },
        Allowed::Scalar => {
            let (kind, le) = match &*arg(0)? {
                Obj::Dtype(k, le) => (k.clone(), *le),
                _ => return Err("numpy scalar without a dtype".into()),
            };
            let data = match &*arg(1)? {
                Obj::V(Value::Bytes(b)) => b.clone(),
                _ => return Err("numpy scalar without its bytes".into()),
            };
            let a = NdArray {
                shape: vec![],
                kind: kind.clone(),
                little_endian: le,
                fortran: false,
                data,
            };
            let v = a
                .to_f32()?
                .first()
                .copied()
                .ok_or("numpy scalar of the wrong size")?;
            Ok(Obj::V(if kind.starts_with('f') {
                Value::Float(v as f64)
            } else {
                Value::Int(v as i64)
            }))
        }
        Allowed::Ndarray => Err("numpy.ndarray called directly".into()),
    }
}

fn build(obj: &Obj, state: &Obj) -> Result<Obj, String> {
    let Obj::Tuple(s) = state else {
        return Err("BUILD with a state that is not a tuple".into());
    };
    match obj {
        // dtype state: (version, byte order, …)
        Obj::Dtype(kind, _) => {
            let order = match s.get(1).map(|o| o.borrow()) {
                Some(o) => match &*o {
                    Obj::V(Value::Str(c)) => c.clone(),
                    _ => "<".into(),
                },
                None => "<".into(),
            };
            Ok(Obj::Dtype(
                kind.trim_start_matches(['<', '>', '=', '|']).to_string(),
                order != ">",
            ))
        }
        // ndarray state: (version, shape, dtype, is_fortran, raw bytes)
        Obj::Array(None) => {
            if s.len() != 5 {
                return Err(format!("an array state of {} items (5 expected)", s.len()));
            }
            let shape: Vec<usize> = match &*s[1].borrow() {
                Obj::Tuple(t) => t
                    .iter()
                    .map(|d| match &*d.borrow() {
                        Obj::V(Value::Int(n)) if *n >= 0 => Ok(*n as usize),
                        _ => Err("an array dimension that is not a natural number".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err("an array shape that is not a tuple".into()),
            };
            let (kind, le) = match &*s[2].borrow() {
                Obj::Dtype(k, le) => (k.clone(), *le),
                _ => return Err("an array without a dtype".into()),
            };
            let fortran = matches!(&*s[3].borrow(), Obj::V(Value::Bool(true)));
            let data = match &*s[4].borrow() {
                Obj::V(Value::Bytes(b)) => b.clone(),
                _ => {
                    return Err(format!(
                        "an array of '{kind}' without raw bytes (object arrays are refused)"
                    ))
                }
            };
            let size =
                item_size(&kind).ok_or_else(|| format!("arrays of '{kind}' are not supported"))?;
            let count = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or("an array size that overflows")?;
            if count.checked_mul(size) != Some(data.len()) {
                return Err(format!(
                    "an array of shape {shape:?} and type '{kind}' with {} bytes ({} expected)",
                    data.len(),
                    count.saturating_mul(size)
                ));
            }
            Ok(Obj::Array(Some(NdArray {
                shape,
                kind,
                little_endian: le,
                fortran,
                data,
            })))
        }
        _ => Err("BUILD of an object this reader does not build".into()),
    }
}

/// A plain value, expanding shared references within `budget` bytes (cycles and bombs are errors).
fn plain(o: &Shared, budget: &mut usize, depth: usize) -> Result<Value, String> {
    if depth > 64 {
        return Err("nesting deeper than 64 levels (or a self-reference)".into());
    }
    let mut spend = |n: usize| -> Result<(), String> {
        *budget = budget
            .checked_sub(n)
            .ok_or("the pickle expands far beyond its own size")?;
        Ok(())
    };
    spend(16)?;
    Ok(match &*o.borrow() {
        Obj::V(v) => {
            match v {
                Value::Bytes(b) => spend(b.len())?,
                Value::Str(s) => spend(s.len())?,
                _ => {}
            }
            v.clone()
        }
        Obj::List(l) => Value::List(
            l.iter()
                .map(|x| plain(x, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Obj::Tuple(l) => Value::Tuple(
            l.iter()
                .map(|x| plain(x, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Obj::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, v)| Ok((plain(k, budget, depth + 1)?, plain(v, budget, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        Obj::Array(Some(a)) => {
            spend(a.data.len())?;
            Value::Array(a.clone())
        }
        Obj::Array(None) => return Err("an array that was never built".into()),
        Obj::Dtype(k, _) => Value::Str(k.clone()),
        Obj::Global(_) => return Err("a bare global as a value".into()),
        Obj::Mark => return Err("a MARK left on the stack".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_decode() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn a_tuple_of_lists_at_protocol_2() {
        // pickle.dumps((["a", "bc"], [1, 300, -5]), protocol=2)
        let b = b"\x80\x02]q\x00(X\x01\x00\x00\x00aq\x01X\x02\x00\x00\x00bcq\x02e]q\x03(K\x01M,\x01J\xfb\xff\xff\xffe\x86q\x04.";
        let v = load(b).unwrap();
        assert_eq!(
            v,
            Value::Tuple(vec![
                Value::List(vec![Value::Str("a".into()), Value::Str("bc".into())]),
                Value::List(vec![Value::Int(1), Value::Int(300), Value::Int(-5)]),
            ])
        );
    }

    #[test]
    fn a_foreign_global_is_refused_before_anything_runs() {
        let b = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.";
        let e = load(b).unwrap_err();
        assert!(e.contains("os.system") && e.contains("refuses"), "{e}");
    }

    #[test]
    fn truncated_and_bombs_are_errors() {
        assert!(load(b"\x80\x02X\xff\xff\xff\x7fab")
            .unwrap_err()
            .contains("truncated"));
        // One list referenced 64 times, nested: expands exponentially and must stop on the budget.
        let mut b = b"\x80\x02]q\x00".to_vec();
        for _ in 0..40 {
            b.extend_from_slice(b"(h\x00h\x00h\x00h\x00tq\x00");
        }
        b.push(b'.');
        assert!(load(&b).is_err());
    }
}
