//! A data-only reader for the pickle programs inside PyTorch checkpoints.
//!
//! The reader interprets the opcodes of pickle protocols 2–5 that `torch.save` emits, building an
//! arena of plain values. Nothing is ever imported or called: a global reference is kept as its
//! name, and a call (`REDUCE`, `NEWOBJ`) becomes an inert [`Node::Object`] record — except a short
//! list of known constructors that are decoded as data (`collections.OrderedDict` and PyTorch's
//! tensor rebuild functions). Values live in one arena and refer to each other by index, so
//! shared and self-referencing objects cost nothing extra, memory is bounded by the length of the
//! program, and dropping the arena never recurses. Every error names the byte offset at fault.

/// Index of a node in the arena.
pub(crate) type NodeId = usize;

/// A value on the stack or inside a container.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer too large for 64 bits (kept only as a fact).
    BigInt,
    /// A float.
    Float(f64),
    /// Anything stored in the arena.
    Node(NodeId),
}

/// Element types of PyTorch storages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StorageType {
    /// float32.
    F32,
    /// float64.
    F64,
    /// float16.
    F16,
    /// bfloat16.
    Bf16,
    /// Another storage class, named.
    Other(String),
}

impl StorageType {
    /// The dtype name as PyTorch prints it.
    pub fn name(&self) -> String {
        match self {
            StorageType::F32 => "float32".into(),
            StorageType::F64 => "float64".into(),
            StorageType::F16 => "float16".into(),
            StorageType::Bf16 => "bfloat16".into(),
            StorageType::Other(name) => match name.as_str() {
                "LongStorage" => "int64".into(),
                "IntStorage" => "int32".into(),
                "ShortStorage" => "int16".into(),
                "ByteStorage" => "uint8".into(),
                "CharStorage" => "int8".into(),
                "BoolStorage" => "bool".into(),
                other => other.to_string(),
            },
        }
    }
}

/// A tensor as the pickle describes it: a strided view into a storage file of the archive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TensorRef {
    /// Storage key: the archive entry `data/{key}` holds its bytes.
    pub storage_key: String,
    /// Element type.
    pub dtype: StorageType,
    /// Elements in the storage, as declared.
    pub storage_numel: u64,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

impl TensorRef {
    /// Number of elements (None when it overflows 64 bits).
    pub fn numel(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
    }
}

/// A storage reference from a persistent id.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StorageRef {
    key: String,
    dtype: StorageType,
    numel: u64,
}

/// What the arena holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// A string.
    Str(String),
    /// Bytes (only the length is kept).
    Bytes(u64),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list (sets and frozensets too).
    List(Vec<Value>),
    /// A dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A global reference `module.name`, never resolved.
    Global(String, String),
    /// An object made by calling something (never called): the callable, its arguments and the
    /// state given by BUILD.
    Object {
        /// What would have been called.
        callable: Value,
        /// Its arguments.
        args: Value,
        /// State set by BUILD.
        state: Option<Value>,
    },
    /// A persistent id that is not a storage.
    Persistent(Value),
    /// A storage.
    Storage(StorageRef),
    /// A tensor.
    Tensor(TensorRef),
}

/// A decoded pickle: the arena and the root value.
#[derive(Debug)]
pub(crate) struct Pickle {
    nodes: Vec<Node>,
    /// The value the program returned.
    pub root: Value,
}

impl Pickle {
    /// The node behind a value.
    pub fn node(&self, v: Value) -> Option<&Node> {
        match v {
            Value::Node(id) => self.nodes.get(id),
            _ => None,
        }
    }

    /// The string a value holds.
    pub fn str(&self, v: Value) -> Option<&str> {
        match self.node(v) {
            Some(Node::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The entries of a dict value.
    pub fn dict(&self, v: Value) -> Option<&[(Value, Value)]> {
        match self.node(v) {
            Some(Node::Dict(d)) => Some(d),
            _ => None,
        }
    }

    /// The tensor a value holds.
    pub fn tensor(&self, v: Value) -> Option<&TensorRef> {
        match self.node(v) {
            Some(Node::Tensor(t)) => Some(t),
            _ => None,
        }
    }

    /// The value under string key `key` of a dict value (the last one, as in Python).
    pub fn get(&self, dict: Value, key: &str) -> Option<Value> {
        self.dict(dict)?
            .iter()
            .rev()
            .find(|(k, _)| self.str(*k) == Some(key))
            .map(|(_, v)| *v)
    }

    /// A short description of a value, for messages.
    pub fn describe(&self, v: Value) -> String {
        match v {
            Value::None => "None".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::BigInt => "a large integer".into(),
            Value::Float(f) => f.to_string(),
            Value::Node(_) => match self.node(v) {
                Some(Node::Str(s)) if s.len() <= 60 => format!("'{s}'"),
                Some(Node::Str(s)) => format!("a string of {} bytes", s.len()),
                Some(Node::Bytes(n)) => format!("{n} bytes"),
                Some(Node::Tuple(t)) => format!("a tuple of {}", t.len()),
                Some(Node::List(l)) => format!("a list of {}", l.len()),
                Some(Node::Dict(d)) => format!("a dict of {}", d.len()),
                Some(Node::Global(m, n)) => format!("{m}.{n}"),
                Some(Node::Object { callable, .. }) => {
                    format!("a call to {} (not executed)", self.describe(*callable))
                }
                Some(Node::Persistent(_)) => "a persistent reference".into(),
                Some(Node::Storage(s)) => format!("storage {}", s.key),
                Some(Node::Tensor(t)) => format!("a {} tensor {:?}", t.dtype.name(), t.shape),
                None => "?".into(),
            },
        }
    }
}

/// The most dimensions a tensor may have.
const MAX_RANK: usize = 16;

/// The longest line a GLOBAL opcode may carry (module and class names).
const MAX_NAME: usize = 512;

/// Why a program was rejected, with the offset of the opcode at fault.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PickleError {
    /// Offset of the opcode.
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "offset {}: {}", self.offset, self.message)
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u64, Value>,
    nodes: Vec<Node>,
}

type Step<T> = std::result::Result<T, PickleError>;

/// Runs the pickle program `data` and returns its value.
pub(crate) fn parse(data: &[u8]) -> std::result::Result<Pickle, PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        op_at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Default::default(),
        nodes: Vec::new(),
    };
    let root = m.run()?;
    Ok(Pickle {
        nodes: m.nodes,
        root,
    })
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'L' => "LONG",
        b'P' => "PERSID",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'a' => "APPEND",
        b'g' => "GET",
        b'i' => "INST",
        b'o' => "OBJ",
        b'p' => "PUT",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "an unknown opcode",
    }
}

impl Machine<'_> {
    fn fail<T>(&self, message: impl Into<String>) -> Step<T> {
        Err(PickleError {
            offset: self.op_at,
            message: message.into(),
        })
    }

    fn take(&mut self, n: u64) -> Step<&[u8]> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return self.fail(format!(
                "the opcode needs {n} bytes but only {left} remain (truncated or corrupted)"
            ));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.data[start..self.pos])
    }

    fn uint(&mut self, n: usize) -> Step<u64> {
        let b = self.take(n as u64)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    fn line(&mut self) -> Step<String> {
        let rest = &self.data[self.pos..];
        let end = rest.iter().take(MAX_NAME + 1).position(|&b| b == b'\n');
        match end {
            Some(n) => {
                let s = String::from_utf8_lossy(&rest[..n]).into_owned();
                self.pos += n + 1;
                Ok(s)
            }
            None => self.fail(format!(
                "a GLOBAL name longer than {MAX_NAME} bytes or without its newline"
            )),
        }
    }

    fn alloc(&mut self, node: Node) -> Value {
        self.nodes.push(node);
        Value::Node(self.nodes.len() - 1)
    }

    fn pop(&mut self) -> Step<Value> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) && !self.marks.is_empty() {
            return self.fail("pops past a MARK");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.fail("pops an empty stack"),
        }
    }

    fn top(&self) -> Step<Value> {
        match self.stack.last() {
            Some(v) => Ok(*v),
            None => self.fail("reads an empty stack"),
        }
    }

    fn pop_mark(&mut self) -> Step<Vec<Value>> {
        match self.marks.pop() {
            Some(at) => Ok(self.stack.split_off(at)),
            None => self.fail("no MARK to pop to"),
        }
    }

    fn string(&mut self, n: u64) -> Step<Value> {
        let b = self.take(n)?.to_vec();
        match String::from_utf8(b) {
            Ok(s) => Ok(self.alloc(Node::Str(s))),
            Err(_) => self.fail("a string that is not UTF-8"),
        }
    }

    fn node_mut(&mut self, v: Value) -> Option<&mut Node> {
        match v {
            Value::Node(id) => self.nodes.get_mut(id),
            _ => None,
        }
    }

    fn memo_put(&mut self, key: u64) -> Step<()> {
        let v = self.top()?;
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Step<()> {
        match self.memo.get(&key) {
            Some(v) => {
                self.stack.push(*v);
                Ok(())
            }
            None => self.fail(format!("memo key {key} was never stored")),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Step<()> {
        let target = self.top()?;
        match self.node_mut(target) {
            Some(Node::List(l)) => {
                l.extend(items);
                Ok(())
            }
            // appending to an object (a list subclass): keep the items as its state
            Some(Node::Object { .. }) => Ok(()),
            _ => self.fail("APPEND(S) to something that is not a list"),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Step<()> {
        if items.len() % 2 != 0 {
            return self.fail("SETITEMS with an odd number of values");
        }
        let target = self.top()?;
        match self.node_mut(target) {
            Some(Node::Dict(d)) => {
                d.extend(items.chunks(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            Some(Node::Object { .. }) => Ok(()),
            _ => self.fail("SETITEM(S) on something that is not a dict"),
        }
    }

    fn global(&mut self, module: String, name: String) -> Value {
        self.alloc(Node::Global(module, name))
    }

    fn global_name(&self, v: Value) -> Option<(&str, &str)> {
        match v {
            Value::Node(id) => match self.nodes.get(id) {
                Some(Node::Global(m, n)) => Some((m, n)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The length of a tuple and copies of its first `n` items (never the whole tuple: a
    /// program may pass one huge tuple to many calls).
    fn tuple_head(&self, v: Value, n: usize) -> Option<(usize, Vec<Value>)> {
        match v {
            Value::Node(id) => match self.nodes.get(id) {
                Some(Node::Tuple(t)) => Some((t.len(), t.iter().take(n).copied().collect())),
                _ => None,
            },
            _ => None,
        }
    }

    fn str_at(&self, v: Value) -> Option<&str> {
        match v {
            Value::Node(id) => match self.nodes.get(id) {
                Some(Node::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn usizes(&self, v: Value, what: &str) -> Step<Vec<usize>> {
        let items = match self.tuple_head(v, MAX_RANK) {
            Some((len, _)) if len > MAX_RANK => {
                return self.fail(format!(
                    "tensor {what} has {len} dimensions, more than {MAX_RANK}"
                ))
            }
            Some((_, t)) => t,
            None => return self.fail(format!("tensor {what} is not a tuple")),
        };
        items
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => self.fail(format!(
                    "tensor {what} holds {x:?}, not a non-negative integer"
                )),
            })
            .collect()
    }

    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` as data.
    fn rebuild_tensor(&mut self, args: Value) -> Step<Value> {
        let a = match self.tuple_head(args, 4) {
            Some((len, a)) if len >= 4 => a,
            _ => return self.fail("_rebuild_tensor_v2 needs (storage, offset, size, stride, …)"),
        };
        let storage = match a[0] {
            Value::Node(id) => match self.nodes.get(id) {
                Some(Node::Storage(s)) => s.clone(),
                _ => return self.fail("_rebuild_tensor_v2: the first argument is not a storage"),
            },
            _ => return self.fail("_rebuild_tensor_v2: the first argument is not a storage"),
        };
        let offset = match a[1] {
            Value::Int(i) if i >= 0 => i as u64,
            other => return self.fail(format!("_rebuild_tensor_v2: storage offset {other:?}")),
        };
        let shape = self.usizes(a[2], "size")?;
        let stride = self.usizes(a[3], "stride")?;
        if shape.len() != stride.len() {
            return self.fail(format!(
                "tensor size {shape:?} and stride {stride:?} differ in rank"
            ));
        }
        let t = TensorRef {
            storage_key: storage.key,
            dtype: storage.dtype,
            storage_numel: storage.numel,
            offset,
            shape,
            stride,
        };
        Ok(self.alloc(Node::Tensor(t)))
    }

    /// REDUCE: decode the known constructors, record everything else without calling it.
    fn reduce(&mut self, callable: Value, args: Value) -> Step<Value> {
        let name = self
            .global_name(callable)
            .map(|(m, n)| (m.to_string(), n.to_string()));
        match name.as_ref().map(|(m, n)| (m.as_str(), n.as_str())) {
            Some(("collections", "OrderedDict")) => return Ok(self.alloc(Node::Dict(Vec::new()))),
            Some(("torch._utils", "_rebuild_tensor_v2")) => return self.rebuild_tensor(args),
            Some(("torch._utils", "_rebuild_parameter"))
            | Some(("torch._utils", "_rebuild_parameter_with_state")) => {
                if let Some(first) = self
                    .tuple_head(args, 1)
                    .and_then(|(_, a)| a.first().copied())
                {
                    if matches!(self.node_mut(first), Some(Node::Tensor(_))) {
                        return Ok(first);
                    }
                }
                return self.fail("_rebuild_parameter without a tensor");
            }
            Some(("torch._tensor", "_rebuild_from_type_v2")) => {
                // (func, new_type, args, state): decode when func rebuilds a plain tensor
                if let Some(a) = self
                    .tuple_head(args, 3)
                    .filter(|(len, _)| *len >= 3)
                    .map(|(_, a)| a)
                {
                    if self.global_name(a[0]) == Some(("torch._utils", "_rebuild_tensor_v2")) {
                        return self.rebuild_tensor(a[2]);
                    }
                }
            }
            _ => {}
        }
        Ok(self.alloc(Node::Object {
            callable,
            args,
            state: None,
        }))
    }

    fn persistent(&mut self, pid: Value) -> Step<Value> {
        let t = match self.tuple_head(pid, 5) {
            Some((_, t)) => t,
            None => return Ok(self.alloc(Node::Persistent(pid))),
        };
        if t.first().and_then(|v| self.str_at(*v)) != Some("storage") {
            return Ok(self.alloc(Node::Persistent(pid)));
        }
        if t.len() < 5 {
            return self.fail("a storage reference needs ('storage', type, key, location, numel)");
        }
        let dtype = match self.global_name(t[1]) {
            Some((_, "FloatStorage")) => StorageType::F32,
            Some((_, "DoubleStorage")) => StorageType::F64,
            Some((_, "HalfStorage")) => StorageType::F16,
            Some((_, "BFloat16Storage")) => StorageType::Bf16,
            Some((_, other)) => StorageType::Other(other.to_string()),
            None => return self.fail("a storage reference without a storage type"),
        };
        let key = match self.str_at(t[2]) {
            Some(k) if k.len() <= 64 => k.to_string(),
            Some(k) => return self.fail(format!("a storage key of {} bytes", k.len())),
            None => return self.fail("a storage key that is not a string"),
        };
        // keys name archive entries: keep them to plain names
        if key.is_empty()
            || key.len() > 64
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return self.fail(format!("storage key {key:?} is not a plain name"));
        }
        let numel = match t[4] {
            Value::Int(n) if n >= 0 => n as u64,
            other => return self.fail(format!("storage size {other:?}")),
        };
        Ok(self.alloc(Node::Storage(StorageRef { key, dtype, numel })))
    }

    fn run(&mut self) -> Step<Value> {
        loop {
            self.op_at = self.pos;
            let op = match self.data.get(self.pos) {
                Some(&op) => op,
                None => return self.fail("the program ends without STOP (truncated)"),
            };
            self.pos += 1;
            match op {
                0x80 => {
                    let proto = self.uint(1)?;
                    if proto > 5 {
                        return self.fail(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.uint(8)?; // FRAME: a length hint
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.uint(1)?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.stack.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.uint(1)? } else { self.uint(4)? };
                    let bytes = self.take(n)?;
                    let v = if n == 0 {
                        Value::Int(0)
                    } else if n <= 8 {
                        let mut a = [0u8; 8];
                        a[..n as usize].copy_from_slice(bytes);
                        if bytes[n as usize - 1] & 0x80 != 0 {
                            a[n as usize..].fill(0xFF);
                        }
                        Value::Int(i64::from_le_bytes(a))
                    } else {
                        Value::BigInt
                    };
                    self.stack.push(v);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.stack.push(Value::Float(f64::from_be_bytes(a)));
                }
                b'X' => {
                    let n = self.uint(4)?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.uint(1)?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.uint(8)?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'T' | b'U' => {
                    let n = if op == b'T' { self.uint(4)? } else { self.uint(1)? };
                    let s = String::from_utf8_lossy(self.take(n)?).into_owned();
                    let v = self.alloc(Node::Str(s));
                    self.stack.push(v);
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => self.uint(4)?,
                        b'C' => self.uint(1)?,
                        _ => self.uint(8)?,
                    };
                    self.take(n)?;
                    let v = self.alloc(Node::Bytes(n));
                    self.stack.push(v);
                }
                b')' => {
                    let v = self.alloc(Node::Tuple(Vec::new()));
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Node::Tuple(items));
                    self.stack.push(v);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let v = self.alloc(Node::Tuple(items));
                    self.stack.push(v);
                }
                b']' | 0x8f => {
                    let v = self.alloc(Node::List(Vec::new()));
                    self.stack.push(v);
                }
                b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Node::List(items));
                    self.stack.push(v);
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => {
                    let v = self.alloc(Node::Dict(Vec::new()));
                    self.stack.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.fail("DICT with an odd number of values");
                    }
                    let v = self.alloc(Node::Dict(items.chunks(2).map(|kv| (kv[0], kv[1])).collect()));
                    self.stack.push(v);
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.global(module, name);
                    self.stack.push(v);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (m, n) = match (self.node_mut(module).cloned(), self.node_mut(name).cloned()) {
                        (Some(Node::Str(m)), Some(Node::Str(n))) => (m, n),
                        _ => return self.fail("STACK_GLOBAL needs two strings"),
                    };
                    let v = self.global(m, n);
                    self.stack.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = self.alloc(Node::Object { callable: class, args, state: None });
                    self.stack.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = self.alloc(Node::Object { callable: class, args, state: None });
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    // a dict's BUILD state is its attributes (e.g. a state dict's `_metadata`): not entries
                    if let Some(Node::Object { state: s, .. }) = self.node_mut(target) {
                        *s = Some(state);
                    }
                }
                b'q' => {
                    let k = self.uint(1)?;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.uint(4)?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.uint(1)?;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.uint(4)?;
                    self.memo_get(k)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.stack.push(v);
                }
                other => {
                    return self.fail(format!(
                        "unsupported pickle opcode 0x{other:02x} ({}); PyTorch checkpoints do not use it",
                        opcode_name(other)
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_containers_memo_and_numbers() {
        // {'a': [1, -2, 3.5], 'b': ('x', None, True), 'c': <memo of 'a'>} (protocol 2)
        let mut p = vec![
            0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'a', b']', b'q', 1, b'(', b'K', 1,
        ];
        p.extend([b'J', 0xfe, 0xff, 0xff, 0xff, b'G']);
        p.extend(3.5f64.to_be_bytes());
        p.extend([
            b'e', b'X', 1, 0, 0, 0, b'b', 0x8c, 1, b'x', b'N', 0x88, 0x87,
        ]);
        p.extend([b'X', 1, 0, 0, 0, b'c', b'h', 1, b'u', b'.']);
        let pk = parse(&p).unwrap();
        let a = pk.get(pk.root, "a").unwrap();
        assert_eq!(
            pk.node(a),
            Some(&Node::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Float(3.5)
            ]))
        );
        let Some(Node::Tuple(b)) = pk.node(pk.get(pk.root, "b").unwrap()) else {
            panic!("not a tuple")
        };
        assert_eq!(pk.str(b[0]), Some("x"));
        assert_eq!(&b[1..], &[Value::None, Value::Bool(true)]);
        // the memo hands back the same list, not a copy
        assert_eq!(pk.get(pk.root, "c"), Some(a));
    }

    #[test]
    fn long1_is_signed_little_endian() {
        let pk = parse(&[0x80, 2, 0x8a, 2, 0x00, 0xff, b'.']).unwrap();
        assert_eq!(pk.root, Value::Int(-256));
        let pk = parse(&[0x80, 2, 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, b'.']).unwrap();
        assert_eq!(pk.root, Value::BigInt);
    }

    #[test]
    fn calls_are_recorded_not_executed() {
        let p = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00echo\x85R.";
        let pk = parse(p).unwrap();
        assert_eq!(
            pk.describe(pk.root),
            "a call to posix.system (not executed)"
        );
    }

    #[test]
    fn errors_name_the_offset() {
        // a string that claims more bytes than the program has
        let e = parse(&[0x80, 2, b'X', 0xff, 0xff, 0xff, 0xff, b'a', b'.']).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(
            e.message.contains("4294967295 bytes but only 2 remain"),
            "{e}"
        );
        let e = parse(&[0x80, 2, 0x82, 1, b'.']).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("0x82 (EXT1)"), "{e}");
        let e = parse(&[0x80, 2, b'h', 7, b'.']).unwrap_err();
        assert!(e.message.contains("memo key 7"), "{e}");
        let e = parse(&[0x80, 2, b'N']).unwrap_err();
        assert!(e.message.contains("without STOP"), "{e}");
        let e = parse(&[0x80, 2, b'.']).unwrap_err();
        assert!(e.message.contains("empty stack"), "{e}");
        let e = parse(&[0x80, 2, b'N', b'(', b's', b'.']).unwrap_err();
        assert!(e.message.contains("MARK"), "{e}");
    }

    fn unicode(text: &str) -> Vec<u8> {
        let mut v = vec![b'X'];
        v.extend((text.len() as u32).to_le_bytes());
        v.extend(text.as_bytes());
        v
    }

    /// `_rebuild_tensor_v2(storage('0', float32, 4 elements), 0, size, stride, False, {})`.
    fn tensor_program(size: &[u8], stride: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
        p.extend(unicode("storage"));
        p.extend(b"ctorch\nFloatStorage\n");
        p.extend(unicode("0"));
        p.extend(unicode("cpu"));
        p.extend(b"K\x04tQK\x00(");
        p.extend(size.iter().flat_map(|&d| [b'K', d]));
        p.extend(b"t(");
        p.extend(stride.iter().flat_map(|&d| [b'K', d]));
        p.extend(b"t\x89}tR.");
        p
    }

    #[test]
    fn tensors_are_decoded_as_data_and_their_rank_is_bounded() {
        let pk = parse(&tensor_program(&[2, 2], &[2, 1])).unwrap();
        let t = pk.tensor(pk.root).unwrap();
        assert_eq!(
            (t.storage_key.as_str(), &t.dtype, t.storage_numel),
            ("0", &StorageType::F32, 4)
        );
        assert_eq!(
            (t.shape.as_slice(), t.stride.as_slice(), t.numel()),
            (&[2, 2][..], &[2, 1][..], Some(4))
        );
        let e = parse(&tensor_program(&[1; 17], &[1; 17])).unwrap_err();
        assert!(e.message.contains("17 dimensions"), "{e}");
        let e = parse(&tensor_program(&[2, 2], &[1])).unwrap_err();
        assert!(e.message.contains("differ in rank"), "{e}");
    }

    #[test]
    fn an_arena_node_is_small_enough_for_the_stated_memory_bound() {
        // README: at most ~200 bytes per program byte (one node, one stack or memo slot, one
        // small container allocation per opcode)
        assert!(
            std::mem::size_of::<Node>() <= 128,
            "{}",
            std::mem::size_of::<Node>()
        );
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn self_reference_and_deep_nesting_are_harmless() {
        // l = []; l.append(l)  then 100 000 nested 1-tuples: no recursion anywhere
        let mut p = vec![0x80, 2, b']', b'q', 0, b'h', 0, b'a'];
        p.extend(std::iter::repeat_n(0x85, 100_000));
        p.push(b'.');
        let pk = parse(&p).unwrap();
        assert!(pk.describe(pk.root).starts_with("a tuple of 1"));
    }
}
