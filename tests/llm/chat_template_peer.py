"""Parity peer for the C++ chat templates (src/llm/chat_template.cpp): renders conversations with
jinja2 the way Hugging Face transformers' apply_chat_template does (a sandboxed environment with
trim_blocks and lstrip_blocks, the loopcontrols extension, raise_exception, and the special tokens
as bos_token / eos_token).

  chat_template_peer.py [MODEL.gguf] < cases.json   (the model only for "gguf" cases)

stdin:  a JSON list of cases {"template": T, "messages": [{"role", "content"}...],
        "add_generation_prompt": bool}. T is "gguf" (the model's own tokenizer.chat_template, with
        bos_token / eos_token its vocabulary entries, read with llama.cpp's `gguf` package),
        "inline" (the case also carries "source", "bos_token" and "eos_token": a template text the
        caller read itself), "llama_cpp" (the case carries "constant", "bos_token" and
        "eos_token": a published template as llama-cpp-python's llama_chat_format module keeps it,
        e.g. LLAMA3_INSTRUCT_CHAT_TEMPLATE) or one of the fixtures below: "llama3", "gemma",
        "mistral".
stdout: a JSON list, one entry per case: {"text": rendered} or {"error": message} when the
        template raises.

The fixtures are the published templates of those families, rewritten here in short Jinja (only
plain string contents; no tools, no multimodal content):
  llama3   meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json chat_template: BOS before the
           first message, header + "\\n\\n" + trimmed content + <|eot_id|> per message.
  gemma    google/gemma-3-270m-it (same as the other Gemma 3 -it models), tokenizer_config.json /
           chat_template.json: leading system text + "\\n\\n" prefixed to the first turn, roles
           must alternate, assistant written "model", contents trimmed.
  mistral  mistralai/Mistral-7B-Instruct-v0.3, tokenizer_config.json chat_template (the "v3"
           template, tool-calling branches left out): system text + "\\n\\n" in the last message
           when it is a user turn, "[INST] ...[/INST]", assistant " " + trimmed + eos_token.
"""
import json
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXTURES = {
    "llama3": {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "template": (
            "{% for message in messages %}"
            "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
            " + message['content'] | trim + '<|eot_id|>' %}"
            "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
            "{{ content }}"
            "{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
        ),
    },
    "gemma": {
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "template": (
            "{{ bos_token }}\n"
            "{%- if messages[0]['role'] == 'system' -%}\n"
            "  {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
            "  {%- set loop_messages = messages[1:] -%}\n"
            "{%- else -%}\n"
            "  {%- set first_user_prefix = '' -%}\n"
            "  {%- set loop_messages = messages -%}\n"
            "{%- endif -%}\n"
            "{%- for message in loop_messages -%}\n"
            "  {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
            "    {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
            "  {%- endif -%}\n"
            "  {%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}\n"
            "  {%- else -%}{%- set role = message['role'] -%}{%- endif -%}\n"
            "  {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}\n"
            "  {{- message['content'] | trim }}\n"
            "  {{- '<end_of_turn>\\n' }}\n"
            "{%- endfor -%}\n"
            "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}\n"
        ),
    },
    "mistral": {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "template": (
            "{%- if messages[0]['role'] == 'system' %}\n"
            "  {%- set system_message = messages[0]['content'] %}\n"
            "  {%- set loop_messages = messages[1:] %}\n"
            "{%- else %}\n"
            "  {%- set loop_messages = messages %}\n"
            "{%- endif %}\n"
            "{%- for message in loop_messages %}\n"
            "  {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
            "    {{- raise_exception('After the optional system message, conversation roles must alternate "
            "user/assistant/user/assistant/...') }}\n"
            "  {%- endif %}\n"
            "{%- endfor %}\n"
            "{{- bos_token }}\n"
            "{%- for message in loop_messages %}\n"
            "  {%- if message['role'] == 'user' %}\n"
            "    {%- if loop.last and system_message is defined %}\n"
            "      {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}\n"
            "    {%- else %}\n"
            "      {{- '[INST] ' + message['content'] + '[/INST]' }}\n"
            "    {%- endif %}\n"
            "  {%- elif message['role'] == 'assistant' %}\n"
            "    {{- ' ' + message['content'] | trim + eos_token }}\n"
            "  {%- else %}\n"
            "    {{- raise_exception('Only user and assistant roles are supported, with the exception of an "
            "initial optional system message!') }}\n"
            "  {%- endif %}\n"
            "{%- endfor %}\n"
        ),
    },
}


def field_string(reader, key):
    f = reader.fields.get(key)
    return None if f is None else bytes(f.parts[f.data[0]]).decode("utf-8")


def token_text(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return ""
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return bytes(tokens.parts[tokens.data[int(f.parts[f.data[0]][0])]]).decode("utf-8")


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def load_model(path):
    from gguf import GGUFReader

    reader = GGUFReader(path)
    return {
        "template": field_string(reader, "tokenizer.chat_template"),
        "bos_token": token_text(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token": token_text(reader, "tokenizer.ggml.eos_token_id"),
    }


def main():
    model = None
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    compiled = {}
    out = []
    for case in json.load(sys.stdin):
        name = case["template"]
        if name == "gguf" and model is None:
            if len(sys.argv) < 2:
                raise SystemExit("cases use the model's template but no MODEL.gguf was given")
            model = load_model(sys.argv[1])  # only when needed: reading a GGUF takes seconds
        if name == "inline":
            t = {"template": case["source"], "bos_token": case["bos_token"], "eos_token": case["eos_token"]}
        elif name == "llama_cpp":
            from llama_cpp import llama_chat_format

            t = {"template": getattr(llama_chat_format, case["constant"]), "bos_token": case["bos_token"],
                 "eos_token": case["eos_token"]}
        else:
            t = model if name == "gguf" else FIXTURES[name]
        if t["template"] is None:
            raise SystemExit(f"{sys.argv[1]} has no tokenizer.chat_template")
        key = (name, t["template"])
        if key not in compiled:
            compiled[key] = env.from_string(t["template"])
        try:
            text = compiled[key].render(messages=case["messages"], add_generation_prompt=case["add_generation_prompt"],
                                         bos_token=t["bos_token"], eos_token=t["eos_token"])
            out.append({"text": text})
        except jinja2.exceptions.TemplateError as e:  # raise_exception, undefined messages[0], ...
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
