//! Built components altered as an attacker would after the build: the
//! binary's sections rewritten, with `wasmparser` to read them and
//! `wasm-encoder` (and `wat` for added code) to write them.

use wasm_encoder::{ComponentSectionId, Encode, InstanceSection, NameMap, NameSection};
use wasmparser::{Parser, Payload};

/// The top-level sections of a component: id and contents.
fn sections(component: &[u8]) -> Vec<(u8, &[u8])> {
    let mut sections = Vec::new();
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        let (mut size, mut shift) = (0usize, 0);
        loop {
            at += 1;
            size |= usize::from(component[at] & 0x7f) << shift;
            shift += 7;
            if component[at] & 0x80 == 0 {
                break;
            }
        }
        at += 1;
        sections.push((id, &component[at..at + size]));
        at += size;
    }
    sections
}

fn section(id: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    contents.len().encode(out);
    out.extend_from_slice(contents);
}

/// Names every function of every core module in `component` `name` (a name
/// section added at each module's end), as if the toolchain had.
pub fn rename_functions(component: &[u8], name: &str) -> Vec<u8> {
    let mut out = component[..8].to_vec();
    for (id, contents) in sections(component) {
        if id != ComponentSectionId::CoreModule as u8 {
            section(id, contents, &mut out);
            continue;
        }
        let mut functions = 0u32;
        for payload in Parser::new(0).parse_all(contents) {
            match payload.expect("a valid module") {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        let import = import.expect("a valid import");
                        functions += u32::from(matches!(import.ty, wasmparser::TypeRef::Func(_)));
                    }
                }
                Payload::FunctionSection(defined) => functions += defined.count(),
                _ => {}
            }
        }
        let mut names = NameMap::new();
        for index in 0..functions {
            names.append(index, name);
        }
        let mut section_names = NameSection::new();
        section_names.functions(&names);
        let mut module = contents.to_vec();
        let mut named = wasm_encoder::Module::new();
        named.section(&section_names);
        module.extend_from_slice(&named.finish()[8..]);
        section(id, &module, &mut out);
    }
    out
}

/// Adds `count` core modules to `component`, each with one memory of `pages`
/// 64 KiB pages that its start function writes to page by page, all
/// instantiated with the component: many memories, each within a
/// per-memory limit.
pub fn with_memories(component: &[u8], count: u32, pages: u32) -> Vec<u8> {
    let modules =
        sections(component).iter().filter(|(id, _)| *id == ComponentSectionId::CoreModule as u8).count();
    let hoard = wat::parse_str(format!(
        r#"(module
            (memory {pages})
            (func $touch (local $at i32)
              (loop $next
                (i32.store8 (local.get $at) (i32.const 1))
                (local.set $at (i32.add (local.get $at) (i32.const 4096)))
                (br_if $next (i32.lt_u (local.get $at) (i32.const {bytes})))))
            (start $touch))"#,
        bytes = pages * 65536,
    ))
    .expect("valid WAT");
    let mut out = component.to_vec();
    for i in 0..count {
        section(ComponentSectionId::CoreModule as u8, &hoard, &mut out);
        let mut instance = InstanceSection::new();
        instance.instantiate(modules as u32 + i, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
        let mut contents = Vec::new();
        instance.encode(&mut contents);
        // `encode` writes the section's size first; `section` adds its own.
        out.push(ComponentSectionId::CoreInstance as u8);
        out.extend_from_slice(&contents);
    }
    out
}
