//! What a crash leaves in the runtime's structures, and the text the runtime printed for it.
//!
//! - A goroutine's panics: `g._panic`, innermost first, each `_panic` with its value (`arg`, an
//!   `any`), the panic it interrupted (`link`), and its `recovered`, `repanicked` (1.25+) and
//!   `goexit` flags ([`Process::panic_chain`]).
//! - A panic value's text as `printpanicval` prints it ([`Process::panic_value`]). When the
//!   runtime dies of a panic, `preprintpanics` has already replaced an error or Stringer value
//!   by its `Error()`/`String()` result, so the value is usually a plain string by then; for a
//!   value still unconverted (a panic in flight when something else killed the process), the
//!   `Error()` text of the errors whose text is a function of their fields is rebuilt
//!   (`errors.New`, `fmt.Errorf`, the runtime's own errors).
//! - The chain as `printpanics` prints it ([`Process::print_panics`]).
//! - The message of a `throw(s)` or `fatal(s)` ([`Process::throw_message`]): the string is a
//!   register argument, gone by the time of the dump, but both hand it to `systemstack` in a
//!   closure built on their own frame, which still holds it.
//! - The signal a goroutine took that became a panic or a throw (`g.sig`, `g.sigcode0`,
//!   `g.sigcode1`, `g.sigpc`: the `[signal …]` line `dopanic_m` prints), and the runtime's name
//!   for a signal (`runtime.sigtable`).
//!
//! How the text is printed changed across releases; the release's rules are told from the
//! program itself ([`PrintRules`]), never from its version number.

use serde::Serialize;

use super::layout::PanicLayout;
use super::threads::{StackOwner, ThreadStack};
use super::types::{Kind, TypeTable};
use super::unwind::PhysFrame;
use super::Process;

/// Longest chain of panics followed (each one a frame of the same stack).
const MAX_CHAIN: usize = 1000;
/// Longest throw message accepted (they are string constants or short concatenations).
const MAX_THROW_MESSAGE: u64 = 1 << 12;

/// One active panic of a goroutine (`runtime._panic`).
#[derive(Clone, Debug, Serialize)]
pub struct PanicRecord {
    /// Address of the `_panic` record (on the goroutine's stack).
    #[serde(skip)]
    pub addr: u64,
    pub value: PanicValue,
    pub recovered: bool,
    /// Go 1.25+: the value was panicked again after a recover (None before 1.25).
    pub repanicked: Option<bool>,
    /// A `runtime.Goexit` in progress, not a panic: the runtime prints nothing for it.
    pub goexit: bool,
}

/// A panic value (`_panic.arg`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PanicValue {
    /// The dynamic type as Go spells it (`string`, `*main.ValidationError`); None for nil.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// What `printpanicval` prints for it: `validate: field "age": value -1 out of range`,
    /// `main.MyInt(93)`, `(*main.T) 0xc000012345`. None if the value could not be read.
    pub text: Option<String>,
    /// For an error value not yet replaced by its `Error()` text: that text, when its type
    /// is one whose message is a function of its fields (`errors.New`, `fmt.Errorf`, the
    /// runtime's errors); else None.
    pub error: Option<String>,
}

/// How this release prints panics and fatal errors, told from the program's functions and
/// layouts: each rule changed in one release, together with a function or field it added.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrintRules {
    /// Newlines in a printed string are followed by a tab (`printindented`, Go 1.23+).
    pub indent_newlines: bool,
    /// Floats and complex numbers print as `strconv`'s shortest `%g` (`printfloat64`, Go
    /// 1.26+), not as `+1.500000e+000`.
    pub shortest_floats: bool,
    /// A panic that repeats the value of the panic it interrupted is not printed twice: the
    /// earlier one says `[recovered, repanicked]` (`_panic.repanicked`, Go 1.25+).
    pub repanicked: bool,
    /// `fatal` prints the goroutine's panics before its message, and `[recovered,
    /// repanicked]` needs both flags (`printPreFatalDeferPanic`, Go 1.26+; 1.25 printed it
    /// for any repanicked panic).
    pub fatal_prints_panics: bool,
}

/// A signal the runtime turned into a panic or a throw on a goroutine (`g.sig` and co.).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct GoroutineSignal {
    pub sig: u32,
    pub code: u64,
    pub addr: u64,
    pub pc: u64,
}

/// A call of `runtime.throw` or `runtime.fatal` found on a thread's stack.
#[derive(Clone, Debug)]
pub struct ThrowCall {
    /// `runtime.throw` or `runtime.fatal`.
    pub function: String,
    /// Index of its frame in [`ThreadStack::frames`].
    pub frame: usize,
    /// The stack it ran on.
    pub owner: StackOwner,
    /// Its argument; None if the frame no longer holds it.
    pub message: Option<String>,
}

impl Process {
    fn panic_layout(&self) -> Result<&PanicLayout, String> {
        self.layouts.panics.as_ref().ok_or_else(|| {
            format!(
                "{} lacks the layouts of panics: {}",
                self.layouts.source,
                self.layouts.panics_missing.join(", ")
            )
        })
    }

    /// The rules by which this program's runtime prints panics and fatal errors.
    pub fn print_rules(&self) -> PrintRules {
        let has = |f: &str| self.exe.pclntab.func_by_name(f).is_some();
        PrintRules {
            indent_newlines: has("runtime.printindented"),
            shortest_floats: has("runtime.printfloat64"),
            repanicked: self.layouts.panics.as_ref().is_some_and(|l| l.panic_repanicked.is_some()),
            fatal_prints_panics: has("runtime.printPreFatalDeferPanic"),
        }
    }

    /// The active panics of the goroutine whose `g` is at `g`, innermost first (`g._panic`,
    /// then each `link`). What cannot be read ends the chain with a warning.
    pub fn panic_chain(
        &self,
        g: u64,
        types: Option<&TypeTable>,
        warnings: &mut Vec<String>,
    ) -> Vec<PanicRecord> {
        let mut out = Vec::new();
        let l = match self.panic_layout() {
            Ok(l) => l,
            Err(e) => {
                warnings.push(e);
                return out;
            }
        };
        let Some(mut p) = self.mem.read_u64(g.saturating_add(l.g_panic)) else {
            warnings.push(format!("g {g:#x}: its _panic field is not in the dump"));
            return out;
        };
        let rules = self.print_rules();
        while p != 0 {
            if out.len() >= MAX_CHAIN || out.iter().any(|r: &PanicRecord| r.addr == p) {
                warnings.push(format!("g {g:#x}: the chain of panics loops or is implausibly long; cut"));
                break;
            }
            let flag = |off: u64| self.mem.read_u8(p.saturating_add(off)).map(|b| b != 0);
            let fields = (
                self.mem.read_u64(p.saturating_add(l.panic_arg)),
                self.mem.read_u64(p.saturating_add(l.panic_arg + 8)),
                self.mem.read_u64(p.saturating_add(l.panic_link)),
                flag(l.panic_recovered),
                flag(l.panic_goexit),
            );
            let (Some(ty), Some(data), Some(link), Some(recovered), Some(goexit)) = fields else {
                warnings.push(format!("g {g:#x}: the _panic record at {p:#x} is not in the dump"));
                break;
            };
            out.push(PanicRecord {
                addr: p,
                value: self.panic_value(types, ty, data, rules),
                recovered,
                repanicked: l.panic_repanicked.map(|off| flag(off).unwrap_or(false)),
                goexit,
            });
            p = link;
        }
        out
    }

    /// A value of dynamic type `ty` (`abi.Type` address, 0 for nil) and data word `data`, as
    /// `printpanicval` prints it.
    pub fn panic_value(
        &self,
        types: Option<&TypeTable>,
        ty: u64,
        data: u64,
        rules: PrintRules,
    ) -> PanicValue {
        if ty == 0 {
            return PanicValue { type_name: None, text: Some("nil".into()), error: None };
        }
        let Some(t) = types.and_then(|tt| tt.get(ty).ok()) else {
            return PanicValue { type_name: None, text: None, error: None };
        };
        let name = t.name.clone();
        let mut v = PanicValue { type_name: Some(name.clone()), text: None, error: None };
        // The value's bytes: in the data word itself for pointer-shaped types.
        let at = |off: u64, size: u64| -> Option<u64> {
            if t.direct_iface {
                return (off == 0).then_some(data);
            }
            let a = data.checked_add(off)?;
            match size {
                1 => self.mem.read_u8(a).map(u64::from),
                2 => self.mem.read_u16(a).map(u64::from),
                4 => self.mem.read_u32(a).map(u64::from),
                _ => self.mem.read_u64(a),
            }
        };
        let scalar = || -> Option<String> {
            Some(match t.kind {
                Kind::Bool => (at(0, 1)? != 0).to_string(),
                Kind::Int | Kind::Int64 => (at(0, 8)? as i64).to_string(),
                Kind::Int8 => (at(0, 1)? as u8 as i8).to_string(),
                Kind::Int16 => (at(0, 2)? as u16 as i16).to_string(),
                Kind::Int32 => (at(0, 4)? as u32 as i32).to_string(),
                Kind::Uint | Kind::Uint64 | Kind::Uintptr => at(0, 8)?.to_string(),
                Kind::Uint8 => at(0, 1)?.to_string(),
                Kind::Uint16 => at(0, 2)?.to_string(),
                Kind::Uint32 => at(0, 4)?.to_string(),
                Kind::Float32 => fmt_float(f32::from_bits(at(0, 4)? as u32) as f64, true, rules),
                Kind::Float64 => fmt_float(f64::from_bits(at(0, 8)?), false, rules),
                Kind::Complex64 => {
                    let (re, im) = (f32::from_bits(at(0, 4)? as u32), f32::from_bits(at(4, 4)? as u32));
                    fmt_complex(re as f64, im as f64, true, rules)
                }
                Kind::Complex128 => {
                    fmt_complex(f64::from_bits(at(0, 8)?), f64::from_bits(at(8, 8)?), false, rules)
                }
                _ => return None,
            })
        };
        let string = || self.read_go_string(data).map(|s| indent(&s, rules));
        let builtin = (t.kind.is_scalar() || t.kind == Kind::String) && t.name == t.kind.name();
        v.text = match t.kind {
            Kind::String if builtin => string(),
            Kind::String => string().map(|s| format!("{name}(\"{s}\")")),
            // print(complex) brings its own parentheses.
            Kind::Complex64 | Kind::Complex128 if !builtin => scalar().map(|s| format!("{name}{s}")),
            _ if builtin => scalar(),
            _ => match scalar() {
                Some(s) => Some(format!("{name}({s})")),
                None if t.kind.is_scalar() => None,
                None => Some(format!("({name}) {data:#x}")),
            },
        };
        v.error = self.error_text(types, &t, data);
        v
    }

    /// The `Error()` text of a value of a known error type.
    fn error_text(&self, types: Option<&TypeTable>, t: &super::types::Type, data: u64) -> Option<String> {
        let e = &self.panic_layout().ok()?.errors;
        let str_at = |off: Option<u64>| self.read_go_string(data.checked_add(off?)?);
        match t.name.as_str() {
            "*errors.errorString" => str_at(e.errors_error_string),
            "*fmt.wrapError" => str_at(e.fmt_wrap_error),
            "*fmt.wrapErrors" => str_at(e.fmt_wrap_errors),
            "runtime.plainError" => self.read_go_string(data),
            "runtime.errorString" => self.read_go_string(data).map(|s| format!("runtime error: {s}")),
            "runtime.errorAddressString" => {
                str_at(e.error_address_string).map(|s| format!("runtime error: {s}"))
            }
            "runtime.boundsError" => self.bounds_error(data),
            "*runtime.TypeAssertionError" => self.type_assertion_error(types?, data),
            _ => None,
        }
    }

    /// `runtime.boundsError.Error()`: the format of its code from the program's own tables
    /// (`boundsErrorFmt`, `boundsNegErrorFmt` for a negative signed index), `%x` and `%y`
    /// replaced by the index and the length or capacity.
    fn bounds_error(&self, data: u64) -> Option<String> {
        let e = &self.panic_layout().ok()?.errors;
        let x = self.mem.read_u64(data.saturating_add(e.bounds_x?))? as i64;
        let y = self.mem.read_u64(data.saturating_add(e.bounds_y?))? as i64;
        let signed = self.mem.read_u8(data.saturating_add(e.bounds_signed?))? != 0;
        let code = self.mem.read_u8(data.saturating_add(e.bounds_code?))? as u64;
        let table = if signed && x < 0 {
            ["runtime.boundsNegErrorFmts", "runtime.boundsNegErrorFmt"]
        } else {
            ["runtime.boundsErrorFmts", "runtime.boundsErrorFmt"]
        };
        let (addr, size) = table.iter().find_map(|n| self.exe.image.symbol(n))?;
        if code >= size / 16 {
            return None;
        }
        let fmt = self.read_go_string(addr.wrapping_add(self.bias) + code * 16)?;
        let int = |v: i64, signed: bool| if signed { v.to_string() } else { (v as u64).to_string() };
        let mut out = String::from("runtime error: ");
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => match chars.next() {
                    Some('x') => out.push_str(&int(x, signed)),
                    Some('y') => out.push_str(&int(y, true)),
                    _ => {}
                },
                c => out.push(c),
            }
        }
        Some(out)
    }

    /// `(*runtime.TypeAssertionError).Error()`.
    fn type_assertion_error(&self, types: &TypeTable, data: u64) -> Option<String> {
        let e = &self.panic_layout().ok()?.errors;
        let word = |off: Option<u64>| self.mem.read_u64(data.checked_add(off?)?);
        let (inter, concrete, asserted) =
            (word(e.assert_interface)?, word(e.assert_concrete)?, word(e.assert_asserted)?);
        let missing = self.read_go_string(data.checked_add(e.assert_missing_method?)?)?;
        let name = |a: u64| types.get(a).ok().map(|t| t.name.clone());
        let inter = if inter == 0 { "interface".to_string() } else { name(inter)? };
        let as_ = name(asserted)?;
        if concrete == 0 {
            return Some(format!("interface conversion: {inter} is nil, not {as_}"));
        }
        let cs = name(concrete)?;
        if !missing.is_empty() {
            return Some(format!("interface conversion: {cs} is not {as_}: missing method {missing}"));
        }
        let mut msg = format!("interface conversion: {inter} is {cs}, not {as_}");
        if cs == as_ {
            let pkg = |a: u64| types.get(a).ok().and_then(|t| t.pkg_path.clone());
            msg += if pkg(concrete) != pkg(asserted) {
                " (types from different packages)"
            } else {
                " (types from different scopes)"
            };
        }
        Some(msg)
    }

    /// The chain as `printpanics` prints it (without the final newline): the outermost panic
    /// first, each later one on its own line after a tab; None if it prints nothing (only
    /// Goexits) or a value it prints could not be read. `chain` is innermost first, as
    /// [`Process::panic_chain`] returns it.
    pub fn print_panics(&self, chain: &[PanicRecord]) -> Option<String> {
        let rules = self.print_rules();
        let mut s = String::new();
        // printpanics recurses to the outermost (last) record first.
        for i in (0..chain.len()).rev() {
            let p = &chain[i];
            if let Some(link) = chain.get(i + 1) {
                if rules.repanicked && link.repanicked == Some(true) {
                    // The earlier panic's line stands for this one ([recovered, repanicked]);
                    // printpanics returns here, printing nothing further.
                    break;
                }
                if !link.goexit {
                    s.push('\t');
                }
            }
            if p.goexit {
                continue;
            }
            s.push_str("panic: ");
            s.push_str(p.value.text.as_deref()?);
            let repanicked = p.repanicked == Some(true);
            if rules.repanicked && repanicked && (p.recovered || !rules.fatal_prints_panics) {
                s.push_str(" [recovered, repanicked]");
            } else if p.recovered {
                s.push_str(" [recovered]");
            }
            s.push('\n');
        }
        let s = s.trim_end_matches('\n');
        (!s.trim().is_empty()).then(|| s.to_string())
    }

    /// The call of `runtime.throw` or `runtime.fatal` nearest the top of a thread's stack, with
    /// its message: the string its `systemstack` closure captured, found on the frame by the
    /// closure's code pointer; the capture's offset in the closure comes from the DWARF
    /// (Go 1.23+ describes captures), else it is the first word after the code pointer (the
    /// string is the only capture up to Go 1.25).
    pub fn throw_message(&self, stack: &ThreadStack) -> Option<ThrowCall> {
        let (i, owner, f, name) = stack.frames().enumerate().find_map(|(i, (owner, f))| {
            let n = self.func_name(f.func);
            matches!(n, "runtime.throw" | "runtime.fatal").then(|| (i, owner, *f, n.to_string()))
        })?;
        let message = self.closure_string(&f, &format!("{name}.func1"));
        Some(ThrowCall { function: name, frame: i, owner, message })
    }

    /// The string `s` a closure `closure` built on `frame` captured.
    fn closure_string(&self, frame: &PhysFrame, closure: &str) -> Option<String> {
        let f = self.exe.pclntab.func_by_name(closure)?;
        let code = f.entry.wrapping_add(self.bias);
        let described = self
            .exe
            .dwarf
            .as_ref()
            .and_then(|d| d.frame_locals(&self.exe.image).ok())
            .and_then(|l| l.captures(f.entry).iter().find(|c| c.name == "s").map(|c| c.offset));
        let offsets: Vec<u64> = match described {
            Some(off) => vec![off],
            None => vec![8, 16, 24],
        };
        let mut a = frame.sp;
        while a + 8 <= frame.fp {
            if self.mem.read_u64(a) == Some(code) {
                for off in &offsets {
                    let (Some(ptr), Some(len)) = (
                        self.mem.read_u64(a.saturating_add(*off)),
                        self.mem.read_u64(a.saturating_add(off + 8)),
                    ) else {
                        continue;
                    };
                    if len == 0 || len > MAX_THROW_MESSAGE {
                        continue;
                    }
                    let mut buf = vec![0u8; len as usize];
                    if self.mem.read_into(ptr, &mut buf) {
                        if let Ok(s) = String::from_utf8(buf) {
                            return Some(s);
                        }
                    }
                }
            }
            a += 8;
        }
        None
    }

    /// The signal the goroutine (or g0) at `g` took that the runtime is turning into a panic
    /// or a throw (`g.sig` non-zero); None if none or unreadable.
    pub fn goroutine_signal(&self, g: u64) -> Option<GoroutineSignal> {
        let l = self.panic_layout().ok()?;
        let sig = self.mem.read_u32(g.saturating_add(l.g_sig))?;
        (sig != 0).then_some(())?;
        Some(GoroutineSignal {
            sig,
            code: self.mem.read_u64(g.saturating_add(l.g_sigcode0))?,
            addr: self.mem.read_u64(g.saturating_add(l.g_sigcode1))?,
            pc: self.mem.read_u64(g.saturating_add(l.g_sigpc))?,
        })
    }

    /// The runtime's name for a signal, `runtime.sigtable[sig].name` ("SIGSEGV: segmentation
    /// violation"); None where there is no table (Windows) or the number is outside it.
    pub fn signal_description(&self, sig: u32) -> Option<String> {
        let (addr, n, size, name) = self.sigtable()?;
        if (sig as u64) >= n {
            return None;
        }
        self.read_go_string(addr + sig as u64 * size + name).filter(|s| !s.is_empty())
    }

    /// The first line `fatalsignal` prints for a signal: its `sigtable` name, or `Signal N`
    /// for a number past the table; None if the table cannot be read.
    pub fn fatal_signal_line(&self, sig: u32) -> Option<String> {
        let (_, n, _, _) = self.sigtable()?;
        if (sig as u64) < n {
            self.signal_description(sig)
        } else {
            Some(format!("Signal {sig}"))
        }
    }

    /// `runtime.sigtable`: run-time address, entries, entry size, offset of `name`.
    fn sigtable(&self) -> Option<(u64, u64, u64, u64)> {
        let l = self.panic_layout().ok()?;
        let (size, name) = (l.sigtab_size.filter(|s| *s > 0)?, l.sigtab_name?);
        let (addr, total) = self.exe.image.symbol("runtime.sigtable")?;
        Some((addr.wrapping_add(self.bias), total / size, size, name))
    }

    /// The line `dopanic_m` prints under the message for a panic or throw that a signal caused:
    /// `[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a5]`.
    pub fn signal_line(&self, s: &GoroutineSignal) -> String {
        let name = self.signal_description(s.sig).unwrap_or_else(|| format!("{:#x}", s.sig));
        format!("[signal {name} code={:#x} addr={:#x} pc={:#x}]", s.code, s.addr, s.pc)
    }
}

impl Kind {
    fn is_scalar(self) -> bool {
        !matches!(
            self,
            Kind::Invalid
                | Kind::Array
                | Kind::Chan
                | Kind::Func
                | Kind::Interface
                | Kind::Map
                | Kind::Pointer
                | Kind::Slice
                | Kind::String
                | Kind::Struct
                | Kind::UnsafePointer
        )
    }
}

/// `printindented`: every newline followed by a tab (Go 1.23+).
fn indent(s: &str, rules: PrintRules) -> String {
    if rules.indent_newlines {
        s.replace('\n', "\n\t")
    } else {
        s.to_string()
    }
}

/// A float as the runtime's `print` writes it.
pub fn fmt_float(v: f64, single: bool, rules: PrintRules) -> String {
    if rules.shortest_floats {
        fmt_g_shortest(v, single)
    } else {
        fmt_float_fixed7(v)
    }
}

fn fmt_complex(re: f64, im: f64, single: bool, rules: PrintRules) -> String {
    if rules.shortest_floats {
        // strconv.AppendComplex: the imaginary part always has a sign.
        let im = fmt_g_shortest(im, single);
        let sign = if im.starts_with(['+', '-']) { "" } else { "+" };
        format!("({}{sign}{im}i)", fmt_g_shortest(re, single))
    } else {
        format!("({}{}i)", fmt_float_fixed7(re), fmt_float_fixed7(im))
    }
}

/// The runtime's own float printing up to Go 1.25: sign, 7 significant digits, a 3-digit
/// exponent (`+1.500000e+000`).
fn fmt_float_fixed7(mut v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    const N: usize = 7;
    let mut sign = '+';
    let mut e: i32 = 0;
    if v == 0.0 {
        if v.is_sign_negative() {
            sign = '-';
        }
    } else {
        if v < 0.0 {
            v = -v;
            sign = '-';
        }
        while v >= 10.0 {
            e += 1;
            v /= 10.0;
        }
        while v < 1.0 {
            e -= 1;
            v *= 10.0;
        }
        let mut h = 5.0;
        for _ in 0..N {
            h /= 10.0;
        }
        v += h;
        if v >= 10.0 {
            e += 1;
            v /= 10.0;
        }
    }
    let mut digits = String::new();
    for _ in 0..N {
        let d = v as i64;
        digits.push(char::from(b'0' + d as u8));
        v -= d as f64;
        v *= 10.0;
    }
    let (es, ea) = if e < 0 { ('-', -e) } else { ('+', e) };
    format!("{sign}{}.{}e{es}{:03}", &digits[..1], &digits[1..], ea)
}

/// `strconv.FormatFloat(v, 'g', -1, 32 or 64)`: the shortest digits that read back as `v`,
/// in `%e` form when the decimal exponent is below -4 or at least 6, else in `%f` form.
fn fmt_g_shortest(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` writes the shortest round-trip digits: "9.37e1", "1e6".
    let e = if single { format!("{:e}", (v as f32).abs()) } else { format!("{:e}", v.abs()) };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let mut out = String::from(sign);
    if !(-4..6).contains(&x) {
        // %e: every digit, the exponent with at least two digits.
        out.push(digits[0] as char);
        if nd > 1 {
            out.push('.');
            out.extend(digits[1..].iter().map(|&d| d as char));
        }
        out.push_str(&format!("e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs()));
        return out;
    }
    // %f: the integer part (at least "0"), then the digits left, if any.
    let dp = x + 1;
    let digit = |i: i32| if (0..nd).contains(&i) { digits[i as usize] as char } else { '0' };
    if dp > 0 {
        out.extend((0..dp).map(digit));
    } else {
        out.push('0');
    }
    if nd > dp {
        out.push('.');
        out.extend((dp..nd).map(digit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old() -> PrintRules {
        PrintRules::default()
    }

    fn new() -> PrintRules {
        PrintRules {
            indent_newlines: true,
            shortest_floats: true,
            repanicked: true,
            fatal_prints_panics: true,
        }
    }

    #[test]
    fn floats_as_the_runtime_prints_them() {
        assert_eq!(fmt_float(1.5, false, old()), "+1.500000e+000");
        assert_eq!(fmt_float(-93.7, false, old()), "-9.370000e+001");
        assert_eq!(fmt_float(0.0, false, old()), "+0.000000e+000");
        assert_eq!(fmt_float(f64::INFINITY, false, old()), "+Inf");
        assert_eq!(fmt_float(-93.7, false, new()), "-93.7");
        assert_eq!(fmt_float(-93.7, true, new()), "-93.7");
        assert_eq!(fmt_float(1e6, false, new()), "1e+06");
        assert_eq!(fmt_float(123456.0, false, new()), "123456");
        assert_eq!(fmt_float(1234567.0, false, new()), "1.234567e+06");
        assert_eq!(fmt_float(0.0001, false, new()), "0.0001");
        assert_eq!(fmt_float(0.00001, false, new()), "1e-05");
        assert_eq!(fmt_float(0.0, false, new()), "0");
        assert_eq!(fmt_float(-0.0, false, new()), "-0");
        assert_eq!(fmt_float(100.0, false, new()), "100");
        assert_eq!(fmt_complex(32.1, 10.0, false, new()), "(32.1+10i)");
        assert_eq!(fmt_complex(0.11, 3.0, true, new()), "(0.11+3i)");
        assert_eq!(fmt_complex(1.0, -2.0, false, old()), "(+1.000000e+000-2.000000e+000i)");
    }

    /// A committed linux/amd64 fixture of Go 1.26 (whose layouts the fake records below use).
    fn committed_process() -> Option<Process> {
        let (d, meta) = crate::testutil::fixture_cases().into_iter().find(|(_, m)| {
            m["go_version"] == "1.26.6" && m["platform"] == "linux-amd64" && m["scenario"] == "leaky"
        })?;
        let file = |k: &str| d.join(meta[k].as_str().unwrap_or(k));
        Some(Process::open(&file("dump"), Some(&file("exe"))).unwrap())
    }

    /// Map `bytes` at `va`, where the dump has nothing.
    fn map_fake(p: &mut Process, va: u64, bytes: &[u8]) -> tempfile::TempDir {
        assert!(p.mem.read_u8(va).is_none() && p.mem.read_u8(va + bytes.len() as u64 - 1).is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake");
        std::fs::write(&path, bytes).unwrap();
        let f = p.mem.add_file(crate::dump::MappedFile::open(&path).unwrap());
        p.mem.push(va, bytes.len() as u64, f, 0);
        p.mem.finish();
        dir
    }

    /// Corrupt, looping and unreadable `_panic` records, and values of unreadable or unknown
    /// types, give partial records and warnings, never a panic.
    #[test]
    fn corrupt_panic_records() {
        let Some(mut p) = committed_process() else {
            eprintln!("note: no committed go1.26.6 linux-amd64 fixture: skipping");
            return;
        };
        let l = p.layouts.panics.clone().unwrap();
        let types = p.types().unwrap();
        let d = p.exe.dwarf.as_ref().unwrap();
        let string_t = types.runtime_type(d.type_by_name("string").unwrap()).unwrap();
        let int_t = types.runtime_type(d.type_by_name("int").unwrap()).unwrap();
        // A struct type with no rule of its own: printed as `(T) 0x…`.
        let struct_t = (1..d.type_count() as u32)
            .filter_map(|i| types.runtime_type(crate::exe::dwarf::TypeId(i)))
            .find(|&a| types.get(a).is_ok_and(|t| t.kind == Kind::Struct && t.named))
            .unwrap();
        drop(types);
        let base: u64 = 0x7e00_0000_0000;
        let mut mem = vec![0u8; 0x4000];
        let mut put =
            |off: u64, v: u64| mem[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes());
        let record = |put: &mut dyn FnMut(u64, u64), at: u64, ty: u64, data: u64, link: u64| {
            put(at + l.panic_arg, ty);
            put(at + l.panic_arg + 8, data);
            put(at + l.panic_link, link);
        };
        // g1: a panic whose link points to itself.
        put(0x100 + l.g_panic, base + 0x1000);
        record(&mut put, 0x1000, 0, 0, base + 0x1000);
        // g2: garbage type, then a link into memory the dump does not have.
        put(0x200 + l.g_panic, base + 0x1100);
        record(&mut put, 0x1100, 0xdead_beef_0000, 0, 0x10);
        // g3: _panic points nowhere.
        put(0x300 + l.g_panic, 0x18);
        // g4: a string whose header is unreadable, then an int, then a struct.
        put(0x400 + l.g_panic, base + 0x1200);
        record(&mut put, 0x1200, string_t, 0x20, base + 0x1300);
        put(0x2000, 42);
        record(&mut put, 0x1300, int_t, base + 0x2000, base + 0x1400);
        record(&mut put, 0x1400, struct_t, base + 0x2000, 0);
        let _dir = map_fake(&mut p, base, &mem);
        let types = p.types().unwrap();

        let mut w = Vec::new();
        let c = p.panic_chain(base.saturating_add(0x100), Some(&types), &mut w);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].value.text.as_deref(), Some("nil"));
        assert!(w.iter().any(|w| w.contains("loops")), "{w:?}");
        assert_eq!(p.print_panics(&c).as_deref(), Some("panic: nil"));

        let mut w = Vec::new();
        let c = p.panic_chain(base.saturating_add(0x200), Some(&types), &mut w);
        assert_eq!(c.len(), 1);
        assert!(c[0].value.type_name.is_none() && c[0].value.text.is_none());
        assert!(w.iter().any(|w| w.contains("not in the dump")), "{w:?}");
        assert_eq!(p.print_panics(&c), None, "an unreadable value prints no message");

        let mut w = Vec::new();
        assert!(p.panic_chain(base.saturating_add(0x300), Some(&types), &mut w).is_empty());
        assert_eq!(w.len(), 1);
        let mut w = Vec::new();
        assert!(p.panic_chain(0x28, Some(&types), &mut w).is_empty() && w.len() == 1);

        let mut w = Vec::new();
        let c = p.panic_chain(base.saturating_add(0x400), Some(&types), &mut w);
        assert!(w.is_empty(), "{w:?}");
        let texts: Vec<Option<&str>> = c.iter().map(|r| r.value.text.as_deref()).collect();
        let name = types.name(struct_t);
        assert_eq!(texts[..2], [None, Some("42")]);
        assert_eq!(texts[2], Some(format!("({name}) {:#x}", base + 0x2000).as_str()));
        assert_eq!(c[0].value.type_name.as_deref(), Some("string"));
        // Without type descriptors: the types are unknown, nothing is printed.
        let mut w = Vec::new();
        let c = p.panic_chain(base.saturating_add(0x400), None, &mut w);
        assert!(c.iter().all(|r| r.value.text.is_none()) && c.len() == 3);
        // Without the layouts of panics: a warning.
        p.layouts.panics = None;
        let mut w = Vec::new();
        assert!(p.panic_chain(base.saturating_add(0x400), None, &mut w).is_empty() && w.len() == 1);
        assert_eq!(p.signal_description(6), None);
    }

    #[test]
    fn indentation() {
        assert_eq!(indent("a\nb", new()), "a\n\tb");
        assert_eq!(indent("a\nb", old()), "a\nb");
    }
}
