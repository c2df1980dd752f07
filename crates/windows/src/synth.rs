//! Writes minimal registry hives for tests, fuzz seeds and fixtures: a base block and one
//! hive bin holding the given keys (with `lh` subkey lists) and string or DWORD values.
//! Checked against hivex (`hivexget`) in the tests, not against this crate's reader alone.

/// A value to write.
#[derive(Debug, Clone)]
pub enum Value {
    /// `REG_SZ`, written with its terminating NUL.
    Sz(String),
    /// `REG_DWORD`.
    Dword(u32),
}

#[derive(Default)]
struct Node {
    name: String,
    values: Vec<(String, Value)>,
    children: Vec<Node>,
}

impl Node {
    fn child(&mut self, name: &str) -> &mut Node {
        let i = match self
            .children
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
        {
            Some(i) => i,
            None => {
                self.children.push(Node {
                    name: name.into(),
                    ..Node::default()
                });
                self.children.len() - 1
            }
        };
        &mut self.children[i]
    }
}

struct W {
    /// The hive bins' bytes, from the first bin's header.
    b: Vec<u8>,
    /// The one security cell every key shares (hivex copies a parent's when it adds a key).
    sk: u32,
    /// Keys written.
    keys: u32,
}

impl W {
    fn alloc(&mut self, data: &[u8]) -> u32 {
        let off = self.b.len() as u32;
        let size = (4 + data.len()).div_ceil(8) * 8;
        self.b.extend_from_slice(&(-(size as i32)).to_le_bytes());
        self.b.extend_from_slice(data);
        self.b.resize(off as usize + size, 0);
        off
    }
    fn patch(&mut self, cell: u32, at: usize, v: u32) {
        let p = cell as usize + 4 + at;
        self.b[p..p + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn key(&mut self, n: &Node, parent: u32, root: bool) -> u32 {
        let mut nk = vec![0u8; 0x4c];
        nk[..2].copy_from_slice(b"nk");
        let flags: u16 = if root { 0x2c } else { 0x20 };
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[0x10..0x14].copy_from_slice(&parent.to_le_bytes());
        for at in [0x1c, 0x20, 0x28, 0x30] {
            nk[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        nk[0x2c..0x30].copy_from_slice(&self.sk.to_le_bytes());
        self.keys += 1;
        nk[0x48..0x4a].copy_from_slice(&(n.name.len() as u16).to_le_bytes());
        nk.extend_from_slice(n.name.as_bytes());
        let me = self.alloc(&nk);
        if !n.values.is_empty() {
            let mut list = Vec::new();
            for (name, v) in &n.values {
                let (kind, size, off) = match v {
                    Value::Sz(s) => {
                        let mut d: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
                        d.extend_from_slice(&[0, 0]);
                        let len = d.len() as u32;
                        (1u32, len, self.alloc(&d))
                    }
                    Value::Dword(x) => (4, 0x8000_0004, *x),
                };
                let mut vk = vec![0u8; 20];
                vk[..2].copy_from_slice(b"vk");
                vk[2..4].copy_from_slice(&(name.len() as u16).to_le_bytes());
                vk[4..8].copy_from_slice(&size.to_le_bytes());
                vk[8..12].copy_from_slice(&off.to_le_bytes());
                vk[12..16].copy_from_slice(&kind.to_le_bytes());
                vk[16..18].copy_from_slice(&1u16.to_le_bytes());
                vk.extend_from_slice(name.as_bytes());
                list.extend_from_slice(&self.alloc(&vk).to_le_bytes());
            }
            let l = self.alloc(&list);
            self.patch(me, 0x24, n.values.len() as u32);
            self.patch(me, 0x28, l);
        }
        if !n.children.is_empty() {
            let mut lh = b"lh".to_vec();
            lh.extend_from_slice(&(n.children.len() as u16).to_le_bytes());
            let mut kids: Vec<&Node> = n.children.iter().collect();
            kids.sort_by_key(|c| c.name.to_ascii_uppercase());
            for c in kids {
                let off = self.key(c, me, false);
                let hash = c
                    .name
                    .to_ascii_uppercase()
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(37).wrapping_add(u32::from(b)));
                lh.extend_from_slice(&off.to_le_bytes());
                lh.extend_from_slice(&hash.to_le_bytes());
            }
            let l = self.alloc(&lh);
            self.patch(me, 0x14, n.children.len() as u32);
            self.patch(me, 0x1c, l);
        }
        me
    }
}

/// A hive holding `keys`: each a `\`-separated path from the root (ASCII names) with its
/// values. Intermediate keys are created.
pub fn hive(keys: &[(&str, Vec<(&str, Value)>)]) -> Vec<u8> {
    let mut root = Node {
        name: "ROOT".into(),
        ..Node::default()
    };
    for (path, values) in keys {
        let mut n = &mut root;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            n = n.child(part);
        }
        n.values
            .extend(values.iter().map(|(k, v)| (k.to_string(), v.clone())));
    }
    let mut w = W {
        b: vec![0u8; 32],
        sk: 0,
        keys: 0,
    };
    w.b[..4].copy_from_slice(b"hbin");
    // The security cell: a list of one (flink and blink to itself), a minimal self-relative
    // descriptor (revision 1, SE_SELF_RELATIVE | SE_DACL_PRESENT, no owner, group or ACLs).
    let mut sk = vec![0u8; 20];
    sk[..2].copy_from_slice(b"sk");
    sk[16..20].copy_from_slice(&20u32.to_le_bytes());
    sk.extend_from_slice(&[1, 0, 0x04, 0x80]);
    sk.extend_from_slice(&[0; 16]);
    w.sk = w.alloc(&sk);
    let sk_at = w.sk;
    w.patch(sk_at, 4, sk_at);
    w.patch(sk_at, 8, sk_at);
    let root_off = w.key(&root, 0, true);
    let keys = w.keys;
    w.patch(sk_at, 12, keys);
    let total = w.b.len().div_ceil(4096) * 4096;
    let free = total - w.b.len();
    if free > 0 {
        let at = w.b.len();
        w.b.resize(total, 0);
        w.b[at..at + 4].copy_from_slice(&(free as i32).to_le_bytes());
    }
    w.b[8..12].copy_from_slice(&(total as u32).to_le_bytes());
    let mut base = vec![0u8; 4096];
    base[..4].copy_from_slice(b"regf");
    base[4..8].copy_from_slice(&1u32.to_le_bytes());
    base[8..12].copy_from_slice(&1u32.to_le_bytes());
    base[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
    base[0x18..0x1c].copy_from_slice(&5u32.to_le_bytes());
    base[0x20..0x24].copy_from_slice(&1u32.to_le_bytes());
    base[0x24..0x28].copy_from_slice(&root_off.to_le_bytes());
    base[0x28..0x2c].copy_from_slice(&(total as u32).to_le_bytes());
    base[0x2c..0x30].copy_from_slice(&1u32.to_le_bytes());
    let sum = (0..0x1fc).step_by(4).fold(0u32, |x, i| {
        x ^ u32::from_le_bytes([base[i], base[i + 1], base[i + 2], base[i + 3]])
    });
    let sum = match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        s => s,
    };
    base[0x1fc..0x200].copy_from_slice(&sum.to_le_bytes());
    base.extend_from_slice(&w.b);
    base
}

/// The `SOFTWARE` hive of a Windows Server 2022 Datacenter (build 20348, 21H2), as far as
/// `Microsoft\Windows NT\CurrentVersion` goes.
pub fn software_2022() -> Vec<u8> {
    hive(&[(
        crate::hive::CURRENT_VERSION,
        vec![
            (
                "ProductName",
                Value::Sz("Windows Server 2022 Datacenter".into()),
            ),
            ("EditionID", Value::Sz("ServerDatacenter".into())),
            ("CurrentBuild", Value::Sz("20348".into())),
            ("CurrentBuildNumber", Value::Sz("20348".into())),
            ("DisplayVersion", Value::Sz("21H2".into())),
            ("InstallationType", Value::Sz("Server".into())),
            ("CurrentMajorVersionNumber", Value::Dword(10)),
        ],
    )])
}
