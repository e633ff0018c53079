//! The loaded components, and which one owns each tool and resource.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::bail;
use mcp_protocol::{CompletionRef, Implementation, Offers, ServerInfo, TaskSupport, ToolSchema};
use serde_json::Value;

use crate::runtime::Loaded;

pub struct Catalog {
    components: Vec<Arc<Loaded>>,
    tool_owner: HashMap<String, usize>,
    resource_owner: HashMap<String, usize>,
    prompt_owner: HashMap<String, usize>,
    template_owner: HashMap<String, usize>,
    /// List entries, serialized once at load.
    pub tools: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    pub prompts: Vec<Value>,
    /// The Skills extension's entries, built at each component's load.
    pub skills: Vec<Value>,
    pub server: ServerInfo,
    /// What the layers above attach to this catalog when it is published
    /// (the OAuth layer's per-tool rules), without this module knowing them.
    pub extensions: http::Extensions,
}

impl Catalog {
    /// No components yet: add them, then `finish`.
    pub fn empty() -> Self {
        Catalog {
            components: Vec::new(),
            tool_owner: HashMap::new(),
            resource_owner: HashMap::new(),
            prompt_owner: HashMap::new(),
            template_owner: HashMap::new(),
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            skills: Vec::new(),
            server: ServerInfo::new(implementation(), Offers::default()),
            extensions: http::Extensions::new(),
        }
    }

    /// Says what the server offers, now that every component is in.
    pub fn finish(mut self) -> Self {
        let (prompts, templates) = (!self.prompts.is_empty(), !self.templates.is_empty());
        let offers = Offers {
            resources: templates || !self.resources.is_empty(),
            prompts,
            completions: prompts || templates,
            list_changed: true,
            skills: !self.skills.is_empty(),
            tasks: self.components.iter().any(|c| !c.tasks.is_empty()),
        };
        self.server = ServerInfo::new(implementation(), offers);
        self
    }

    /// Adds a component unless one of its names is taken: tools, prompts,
    /// resources and templates are each unique across components.
    pub fn add(&mut self, component: Arc<Loaded>) -> anyhow::Result<()> {
        let kinds: [(&str, Vec<&str>, &HashMap<String, usize>); 4] = [
            ("tool", component.tools.iter().map(|t| t.name.as_str()).collect(), &self.tool_owner),
            ("prompt", component.prompts.iter().map(|p| p.name.as_str()).collect(), &self.prompt_owner),
            ("resource", component.resources.iter().map(|r| r.uri.as_str()).collect(), &self.resource_owner),
            (
                "resource template",
                component.templates.iter().map(|t| t.uri_template.as_str()).collect(),
                &self.template_owner,
            ),
        ];
        for (kind, names, owners) in kinds {
            if let Some((name, &owner)) = names.iter().find_map(|n| owners.get(*n).map(|o| (n, o))) {
                bail!(
                    "component {}: {kind} {name:?} is already offered by component {}",
                    component.name,
                    self.components[owner].name
                );
            }
        }
        let index = self.components.len();
        register(&mut self.tool_owner, &mut self.tools, &component.tools, |t| &t.name, index)?;
        register(&mut self.prompt_owner, &mut self.prompts, &component.prompts, |p| &p.name, index)?;
        register(&mut self.resource_owner, &mut self.resources, &component.resources, |r| &r.uri, index)?;
        register(
            &mut self.template_owner,
            &mut self.templates,
            &component.templates,
            |t| &t.uri_template,
            index,
        )?;
        self.skills.extend(component.skills.iter().cloned());
        self.components.push(component);
        Ok(())
    }

    pub fn components(&self) -> &[Arc<Loaded>] {
        &self.components
    }

    pub fn tool_owner(&self, name: &str) -> Option<&Arc<Loaded>> {
        self.tool_owner.get(name).map(|&i| &self.components[i])
    }

    /// The compiled schemas of a tool, from its owner's load.
    pub fn tool_schema(&self, name: &str) -> Option<&ToolSchema> {
        self.tool_owner(name).and_then(|component| component.schemas.get(name))
    }

    /// Whether a tool's calls may run as tasks.
    pub fn task_support(&self, name: &str) -> TaskSupport {
        self.tool_owner(name).and_then(|c| c.tasks.get(name).copied()).unwrap_or_default()
    }

    /// The entry of the skill whose `SKILL.md` is `uri`.
    pub fn skill(&self, uri: &str) -> Option<&Value> {
        self.skills.iter().find(|skill| skill["uri"] == uri)
    }

    pub fn prompt_owner(&self, name: &str) -> Option<&Arc<Loaded>> {
        self.prompt_owner.get(name).map(|&i| &self.components[i])
    }

    /// The component serving `uri`: by exact URI, else the first whose template matches.
    pub fn resource_owner(&self, uri: &str) -> Option<&Arc<Loaded>> {
        let exact = self.resource_owner.get(uri).map(|&i| &self.components[i]);
        exact.or_else(|| self.components.iter().find(|c| c.templates.iter().any(|t| t.matches(uri))))
    }

    /// The component that owns what a completion asks about.
    pub fn completion_owner(&self, reference: &CompletionRef) -> Option<&Arc<Loaded>> {
        match reference {
            CompletionRef::Prompt(name) => self.prompt_owner(name),
            CompletionRef::ResourceTemplate(uri) => self
                .template_owner
                .get(uri)
                .map(|&i| &self.components[i])
                .or_else(|| self.resource_owner(uri)),
        }
    }
}

/// Records `index` as the owner of each item's name, and lists the item.
fn register<T: serde::Serialize>(
    owners: &mut HashMap<String, usize>,
    listed: &mut Vec<Value>,
    items: &[T],
    name: fn(&T) -> &String,
    index: usize,
) -> anyhow::Result<()> {
    for item in items {
        owners.insert(name(item).clone(), index);
        listed.push(serde_json::to_value(item)?);
    }
    Ok(())
}

fn implementation() -> Implementation {
    Implementation {
        name: "mcp-host".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        title: Some("MCP tools as WebAssembly components".into()),
    }
}
