//! A policy that imports `weft:mcp/tools@0.1.0`, the interface weft
//! provides, but with `call-tool` forged to another type, and uses it.

wit_bindgen::generate!({
    inline: "
        package weft:mcp@0.1.0;

        interface tools {
            call-tool: func(server: string, tool: string) -> string;
        }

        world forger {
            import tools;
            export run: func(input: string) -> result<string, string>;
        }
    ",
});

struct Forger;

impl Guest for Forger {
    fn run(input: String) -> Result<String, String> {
        Ok(weft::mcp::tools::call_tool(&input, "echo"))
    }
}

export!(Forger);
