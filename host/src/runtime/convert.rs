//! The contract's WIT values into protocol types (`mcp_protocol::wit_conversions!`).

use super::bindings::wit;

mcp_protocol::wit_conversions!();

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `wit_convert` fuzz target: a number in a component's JSON
    /// came back one unit in the last place off once the host had read it,
    /// so the client saw another value than the component sent.
    #[test]
    fn numbers_reach_the_client_unchanged() {
        for number in ["1.398386520758382e-306", "-7.533111641459355e304", "8.924377426183473e-203"] {
            let tool = tool(wit::Tool {
                name: "t".into(),
                title: None,
                description: String::new(),
                input_schema: format!(r#"{{"type":"object","default":{number}}}"#),
                output_schema: None,
                annotations: None,
                meta: None,
            })
            .unwrap();
            let sent: f64 = number.parse().unwrap();
            assert_eq!(tool.input_schema["default"].as_f64(), Some(sent), "{number}");
        }
    }
}
