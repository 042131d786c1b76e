import SwapMoECore
#if canImport(Glibc)
import Glibc
#endif

/// The `swapmoe` command line: dispatch, help, and exit codes (0 ok, 1 runtime failure, 64 usage error).
public enum SwapMoECLI {
    static let usage = """
    swapmoe \(SwapMoEVersion.string): serve Mixture-of-Experts models under a hard memory budget

    usage: swapmoe <command> [options]

    commands:
      pack      convert a Hugging Face checkpoint folder into an expert archive
      inspect   show what an archive holds; --verify checks every checksum
      run       generate text from a prompt
      chat      talk with the model in the terminal (its chat template, streamed answers)
      serve     an OpenAI-compatible HTTP server (chat and text completions, streaming, metrics)
      eval      perplexity on a text file
      bench     prefill and decode speed against the memory-bandwidth roofline
      plan      how a --max-rss cap would be spent (arena slots, Virtual Experts per layer)
      profile   measure each MoE layer's sensitivity to fewer experts, for the swap policy's per-layer split
      sweep     perplexity, KL, top-1 agreement, speed and peak RSS across caps and policies
      rouge     ROUGE-1/2/L/Lsum of predictions against references, as Google's rouge-score computes them
      summarize summarise a JSON-lines dataset with an encoder-decoder model and score it with ROUGE

    Run 'swapmoe <command> --help' for a command's options.
    """

    /// Runs one command line and returns the process exit code.
    public static func run(_ argv: [String]) -> Int32 { execute(argv).status }

    /// Runs one command line: its exit code and, when it failed, the error it printed (for tests, which check
    /// that every failure is one of the domain errors with a one-line message).
    public static func execute(_ argv: [String]) -> (status: Int32, error: (any Error)?) {
        guard let command = argv.first else { Terminal.err(usage); return (64, nil) }
        let rest = Array(argv.dropFirst())
        if command == "-h" || command == "--help" || command == "help" { Terminal.out(usage); return (0, nil) }
        if command == "--version" { Terminal.out("swapmoe \(SwapMoEVersion.string)"); return (0, nil) }
        let commands: [String: (usage: String, run: ([String]) throws -> Int32)] = [
            "pack": (PackCommand.usage, PackCommand.run),
            "inspect": (InspectCommand.usage, InspectCommand.run),
            "run": (RunCommand.usage, RunCommand.run),
            "chat": (ChatCommand.usage, ChatCommand.run),
            "serve": (ServeCommand.usage, ServeCommand.run),
            "eval": (EvalCommand.usage, EvalCommand.run),
            "bench": (BenchCommand.usage, BenchCommand.run),
            "plan": (PlanCommand.usage, PlanCommand.run),
            "profile": (ProfileCommand.usage, ProfileCommand.run),
            "sweep": (SweepCommand.usage, SweepCommand.run),
            "rouge": (RougeCommand.usage, RougeCommand.run),
            "summarize": (SummarizeCommand.usage, SummarizeCommand.run),
            "__measure-dram": ("(internal) prints DRAM read GB/s", MeasureDRAMCommand.run),
        ]
        guard let cmd = commands[command] else {
            Terminal.err("swapmoe: unknown command '\(command)'\n\n\(usage)")
            return (64, UsageError("unknown command '\(command)'"))
        }
        if rest.contains("-h") || rest.contains("--help") { Terminal.out(cmd.usage); return (0, nil) }
        do {
            return (try cmd.run(rest), nil)
        } catch let e as UsageError {
            Terminal.err("swapmoe \(command): \(e.message)\n\n\(cmd.usage)")
            return (64, e)
        } catch {
            // One line, even if a message slipped through with a control character from a file in it.
            Terminal.err("swapmoe: \("\(error)".escapingControlCharacters)")
            return (1, error)
        }
    }

    public static func main() -> Never {
        exit(run(Array(CommandLine.arguments.dropFirst())))
    }
}
