import Foundation
import SwapMoECore
import SwapMoETemplates

/// How a conversation becomes a prompt: the model's chat template with its special-token strings, rendered as
/// transformers' `apply_chat_template(messages, add_generation_prompt=True)` renders it and tokenized as it
/// tokenizes it (no special tokens added: the template writes them).
public struct ChatFormat: Sendable {
    /// Where the template came from.
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// The archive's `chat_template.jinja`, `chat_template.json` or `tokenizer_config.json` (named).
        case archive(String)
        /// `--chat-template FILE`.
        case file(String)
        /// None in the archive: ChatML, as llama.cpp's server falls back to.
        case chatML

        public var description: String {
            switch self {
            case .archive(let f): "in the archive (\(f))"
            case .file(let f): "'\(f)'"
            case .chatML: "ChatML (the archive has none)"
            }
        }
    }

    /// The template used without tools, and the one used with them (`tool_use` of a named-template list).
    public let template: ChatTemplate
    public let toolTemplate: ChatTemplate
    public let source: Source
    public let bosToken: String
    public let eosToken: String
    /// Text that ends an answer besides the end-of-sequence tokens (ChatML's `<|im_end|>` when the model's
    /// vocabulary does not know it as a token).
    public let stopStrings: [String]

    /// The fallback template: ChatML.
    public static let chatMLSource = """
    {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """

    /// Renders `messages` (OpenAI-style objects: `role`, `content`, ...) with the generation prompt.
    /// `extra`: further template variables (`enable_thinking`, ...). Throws the template's error (a
    /// `raise_exception` of the template, e.g. roles that do not alternate, is the request's fault).
    public func render(_ messages: [JSONValue], tools: [JSONValue]? = nil, extra: JSONObject = JSONObject(),
                       addGenerationPrompt: Bool = true) throws(TemplateError) -> String {
        let t = tools?.isEmpty == false ? toolTemplate : template
        return try t.render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                            bosToken: bosToken, eosToken: eosToken, extra: extra)
    }
}

extension Session {
    /// The chat format of this archive: `templateFile` when given, else the archive's template (`chat_template.jinja`,
    /// then `chat_template.json`, then `tokenizer_config.json`'s `chat_template`), else ChatML with a warning.
    /// A template that does not parse is `SessionError.chatTemplate` naming where it came from.
    public func chatFormat(templateFile: String? = nil) throws -> (format: ChatFormat, warning: String?) {
        let found: (source: ChatFormat.Source, named: [String: String])?
        if let templateFile {
            found = (.file(templateFile), ["default": try Session.readText(templateFile)])
        } else {
            found = try archiveChatTemplates()
        }
        let bos = tokenizer.bosTokenId.flatMap(tokenizer.idToToken) ?? ""
        let eos = tokenizer.eosTokenId.flatMap(tokenizer.idToToken) ?? ""
        guard let found else {
            let t = try! ChatTemplate(source: ChatFormat.chatMLSource)
            let stops = tokenizer.tokenToId("<|im_end|>") == nil ? ["<|im_end|>"] : []
            return (ChatFormat(template: t, toolTemplate: t, source: .chatML, bosToken: bos, eosToken: eos, stopStrings: stops),
                    "warning: the archive has no chat template; using ChatML (give the model's own with --chat-template FILE)")
        }
        func parse(_ text: String) throws -> ChatTemplate {
            do { return try ChatTemplate(source: text) } catch { throw SessionError.chatTemplate(found.source.description, error.description) }
        }
        guard let main = found.named["default"] ?? found.named.sorted(by: { $0.key < $1.key }).first?.value else {
            throw SessionError.chatTemplate(found.source.description, "it names no template")
        }
        let template = try parse(main)
        let tool = try found.named["tool_use"].map(parse) ?? template
        return (ChatFormat(template: template, toolTemplate: tool, source: found.source, bosToken: bos, eosToken: eos, stopStrings: []), nil)
    }

    /// The prompt ids of a rendered conversation, as transformers tokenizes `apply_chat_template`'s text.
    public func encodeChat(_ rendered: String) -> [Int] { tokenizer.encode(rendered, addSpecialTokens: false) }

    /// The archive's chat templates by name ("default" for a single one), and the file they came from.
    private func archiveChatTemplates() throws -> (source: ChatFormat.Source, named: [String: String])? {
        if let d = try archive.fileData("chat_template.jinja") {
            return (.archive("chat_template.jinja"), ["default": String(decoding: d, as: UTF8.self)])
        }
        for file in ["chat_template.json", "tokenizer_config.json"] {
            guard let d = try archive.fileData(file) else { continue }
            let json: JSONValue
            do { json = try JSONParser.parse([UInt8](d), file: file) } catch { throw SessionError.chatTemplate("in the archive (\(file))", error.description) }
            switch json["chat_template"] {
            case .string(let s)?:
                return (.archive(file), ["default": s])
            case .array(let items)?:
                // transformers' list form: [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
                var named: [String: String] = [:]
                for item in items {
                    if let n = item["name"]?.stringValue, let t = item["template"]?.stringValue { named[n] = t }
                }
                return (.archive(file), named)
            default:
                continue
            }
        }
        return nil
    }
}
