//! A component that exports `run` with the wrong type:
//! `func(a: u32) -> u32` rather than the policy world's
//! `func(input: string) -> result<string, string>`.

wit_bindgen::generate!({
    inline: "
        package weft:misfit;

        world misfit {
            export run: func(a: u32) -> u32;
        }
    ",
});

struct Misfit;

impl Guest for Misfit {
    fn run(a: u32) -> u32 {
        a.wrapping_add(1)
    }
}

export!(Misfit);
