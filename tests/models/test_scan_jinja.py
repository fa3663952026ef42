"""GGUF chat templates judged by an allow-list over Jinja's parse tree: real templates are plain, SSTI is CRITICAL."""

# The templates are written as they ship (long lines, DeepSeek's full-width bars).
# ruff: noqa: E501, RUF001

from __future__ import annotations

import pytest
from corpus._hostile import gguf_bytes

from mlwarden.models import Severity, scan_bytes
from mlwarden.models._scan_jinja import judge_template

# -- real-world templates (as their tokenizer_config.json / GGUF files carry them) ----------------------------

LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

LLAMA32_TOOLS = """{{- bos_token }}
{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}
{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}
{%- endif %}
{%- if not tools is defined %}{%- set tools = none %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}{%- set system_message = "" %}{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}{{- "Environment: ipython\\n" }}{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions.\\n\\n" }}
    {%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}
{%- endif %}
{{- system_message }}{{- "<|eot_id|>" }}
{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}{{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}{{- tool_call.arguments | tojson }}{{- "}" }}
        {%- for arg_name, arg_val in tool_call.arguments | items %}
            {{- arg_name + '="' + arg_val + '"' }}{%- if not loop.last %}{{- ", " }}{%- endif %}
        {%- endfor %}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}{{- message.content | tojson }}
        {%- else %}{{- message.content }}{%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""

MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

MISTRAL_TOOLS = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}{%- set loop_messages = messages %}{%- endif %}
{%- if not tools is defined %}{%- set tools = none %}{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}{{- '"' + key + '": "' + val + '"' }}
                    {%- else %}{{- '"' + key + '": ' + val|tojson }}{%- endif %}
                    {%- if not loop.last %}{{- ", " }}{%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}{{- ", " }}{%- else %}{{- "]" }}{%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
        {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}{{- "[INST] " + message["content"] + "[/INST]" }}{%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}{{- ", " }}{%- else %}{{- "]" + eos_token }}{%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}{{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}{%- set content = message.content %}{%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}{{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}
    {%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n<tools>" }}
    {%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
    {{- "\\n</tools>\\n\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
        {{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}{%- set first_user_prefix = "" -%}{%- set loop_messages = messages -%}{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}{%- set role = "model" -%}{%- else -%}{%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}{{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}
        {%- endfor -%}
    {%- else -%}{{ raise_exception("Invalid content type") }}{%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}
"""

PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

ZEPHYR = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
    "'<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

# Hermes-2-Pro / Hermes-3 ``tokenizer.chat_template.tool_use`` (abridged): a macro, recursion, a lookup table.
HERMES_TOOL_USE = """{%- macro json_to_python_type(json_spec) %}
{%- set basic_type_map = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool"
} %}
{%- if basic_type_map[json_spec.type] is defined %}
    {{- basic_type_map[json_spec.type] }}
{%- elif json_spec.type == "array" %}
    {{- "list[" +  json_to_python_type(json_spec|items) + "]"}}
{%- elif json_spec.type == "object" %}
    {%- if json_spec.additionalProperties is defined %}
        {{- "dict[str, " + json_to_python_type(json_spec.additionalProperties) + ']'}}
    {%- else %}{{- "dict" }}{%- endif %}
{%- elif json_spec.type is iterable %}
    {{- "Union[" }}
    {%- for t in json_spec.type %}
      {{- json_to_python_type({"type": t}) }}
      {%- if not loop.last %}{{- "," }}{%- endif %}
    {%- endfor %}
    {{- "]" }}
{%- else %}{{- "Any" }}{%- endif %}
{%- endmacro %}
{{- bos_token }}
{{- "<|im_start|>system\nYou are a function calling AI model. <tools> " }}
{%- for tool in tools %}
    {%- if tool.function is defined %}{%- set tool = tool.function %}{%- endif %}
    {{- '{"type": "function", "function": ' }}
    {{- '{"name": "' + tool.name + '", ' }}
    {{- '"description": "' + tool.name + '(' }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {{- param_name + ": " + json_to_python_type(param_fields) }}
        {%- if not loop.last %}{{- ", " }}{%- endif %}
    {%- endfor %}
    {{- ")" }}
    {%- if tool.return is defined %}{{- " -> " + json_to_python_type(tool.return) }}{%- endif %}
    {{- " - " + tool.description + "\n\n" }}
    {%- for param_name, param_fields in tool.parameters.properties|items %}
        {%- if loop.first %}{{- "    Args:\n" }}{%- endif %}
        {{- "        " + param_name + "(" + json_to_python_type(param_fields) + "): " + param_fields.description|trim }}
    {%- endfor %}
    {{- '", "parameters": ' }}
    {%- if tool.parameters.properties | length == 0 %}{{- "{}" }}{%- else %}{{- tool.parameters|tojson }}{%- endif %}
    {{- "}" }}
{%- endfor %}
{{- " </tools><|im_end|>\n" }}
{%- for message in messages %}
    {%- if message.role == "user" or message.role == "system" or (message.role == "assistant" and message.tool_calls is not defined) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- for tool_call in message.tool_calls %}
            {{- '\n<tool_call>\n' }}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '{"name": "' }}{{- tool_call.name }}{{- '"' }}
            {%- if tool_call.arguments is defined %}{{- ', "arguments": ' }}{{- tool_call.arguments|tojson }}{%- endif %}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.previtem and loop.previtem.role != "tool" %}{{- '<|im_start|>tool\n' }}{%- endif %}
        {{- '<tool_response>\n' }}{{- message.content }}
        {%- if not loop.last %}{{- '\n</tool_response>\n' }}{%- else %}{{- '\n</tool_response>' }}{%- endif %}
        {%- if not loop.last and loop.nextitem.role != "tool" %}{{- '<|im_end|>' }}
        {%- elif loop.last %}{{- '<|im_end|>' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
"""

# Uses {% break %} (loopcontrols, on in HF transformers), a macro, map/join and selectattr.
MACRO_AND_BREAK = (
    "{% macro render(m) %}{{ m.role | upper }}: {{ m.content | trim }}{% endmacro %}"
    "{% for m in messages %}{% if m.role == 'stop' %}{% break %}{% endif %}{{ render(m) }}\n{% endfor %}"
    "{{ messages | map(attribute='role') | join(', ') }}{{ messages | selectattr('role', 'eq', 'user') | list | length }}"
    "{% generation %}{{ 'ok' }}{% endgeneration %}"
)

REAL = {
    "llama2": LLAMA2,
    "llama3": LLAMA3,
    "llama3.2-tools": LLAMA32_TOOLS,
    "mistral": MISTRAL,
    "mistral-tools": MISTRAL_TOOLS,
    "chatml": CHATML,
    "qwen2.5": QWEN25,
    "gemma": GEMMA,
    "gemma3": GEMMA3,
    "phi3": PHI3,
    "zephyr": ZEPHYR,
    "deepseek-r1": DEEPSEEK_R1,
    "hermes-tool-use": HERMES_TOOL_USE,
    "macro-break": MACRO_AND_BREAK,
}

# -- SSTI payloads ------------------------------------------------------------------------------------------

OS = "os.popen('id').read()"
SSTI = {
    "dunder-attr": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "concat-key": "{{ x[('_'*2)+'class'+('_'*2)] }}",
    "tilde-key": "{{ messages['_' ~ '_cla' ~ 'ss_' ~ '_'] }}",
    "percent-key": "{{ messages['%c%cclass%c%c' % (95, 95, 95, 95)] }}",
    "attr-filter": "{{ messages|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "attr-via-map": "{{ messages|map('attr', 'x')|list }}",
    "cycler": "{{ cycler.__init__.__globals__." + OS + " }}",
    "joiner": "{{ joiner.__init__.__globals__." + OS + " }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "lipsum-plain": "{{ lipsum }}",
    "self-init": "{{ self.__init__.__globals__.__builtins__ }}",
    "self-dict": "{{ self._TemplateReference__context }}",
    "request": "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "config-items": "{{ config.items() }}",
    "import": "{% import 'os' as os %}{{ os }}",
    "from-import": "{% from 'x' import y %}{{ y }}",
    "include": "{% include '/etc/passwd' %}",
    "extends": "{% extends 'base.html' %}",
    "mro-chain": "{{ messages.__class__.__mro__[-1].__subclasses__()[40]('/etc/passwd').read() }}",
    "set-then-key": "{% set k = '__cla' + 'ss__' %}{{ messages[k] }}",
    "set-twice-then-key": "{% set k = '' %}{% set k = '__class__' %}{{ messages[k] }}",
    "key-constant": "{{ messages['__class__'] }}",
    "map-attribute": "{{ messages|map(attribute='__class__')|list }}",
    "selectattr-dunder": "{{ messages|selectattr('__class__')|list }}",
    "gi-frame": "{{ (messages|map('upper')).gi_frame.f_globals }}",
    "format-string": "{{ '{0.__class__}'.format(messages) }}",
    "namespace-dunder": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "map-of-map-attr": "{{ messages|map('map', 'attr', '__class__')|list }}",
    "map-of-selectattr": "{{ messages|map('selectattr', '__class__')|list }}",
    "int-default-key": "{{ messages[messages|int('__class__')] }}",
    "map-attribute-mode-trick": "{{ messages|map('attr', '__class__', attribute='role')|list }}",
    "format-kept-in-namespace": "{% set ns = namespace(get='{0.__class__.__mro__}'.format) %}{{ ns.get(messages) }}",
    "format-by-key": "{% set ns = namespace(get='{0.__init__.__globals__}'['format']) %}{{ ns.get(raise_exception) }}",
    "shadowed-function": "{% set raise_exception = '{0.__class__}'.format %}{{ raise_exception(messages) }}",
    "table-dunder-key": "{% set t = {'a': 'b'} %}{{ t['_' ~ '_class_' ~ '_'] }}",
    "escaped-unicode": "{{ messages['\\u005f\\u005fclass\\u005f\\u005f'] }}",
    "hidden-after-chat": CHATML + "{{ lipsum.__globals__.os.popen('id').read() }}",
}

# Not plain, but nothing that names Python internals: an alarm, below CRITICAL.
UNPROVEN = {
    "dynamic-key": "{% for k in keys %}{{ messages[k] }}{% endfor %}",
    "unknown-filter": "{{ messages|pprint }}",
    "unknown-call": "{{ messages.pop() }}",
    "call-of-value": "{{ messages[0]('x') }}",
    "call-block": "{% macro f() %}{{ caller() }}{% endmacro %}{% call f() %}x{% endcall %}",
    "dict-global": "{{ dict(a=1) }}",
    "shadowed-macro": "{% macro f() %}{% endmacro %}{% set f = messages.pop %}{{ f() }}",
    "map-of-map": "{{ messages|map('map', 'upper')|list }}",
    "int-default-computed": "{% for k in keys %}{{ messages[messages|int(k)] }}{% endfor %}",
    "format-reference": "{% set ns = namespace(get=messages[0].content.format) %}{{ ns.get(messages) }}",
    "format-by-map": "{{ messages|map(attribute='content.format')|list }}",
    "table-result-kept": "{% set t = {'a': 'b'} %}{% set ns = namespace(get=t[k]) %}{{ ns.get() }}",
    "table-result-used": "{% set t = {'a': 'b'} %}{{ t[k].x }}",
    "table-reassigned": "{% set t = {'a': 'b'} %}{% for t in messages %}{{ t[k] }}{% endfor %}",
    "table-of-values": "{% set t = {'a': messages} %}{{ t[k] }}",
    "recursive-loop": "{% for m in messages recursive %}{{ loop(m.children) }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_world_templates_are_plain(name: str) -> None:
    verdict = judge_template(REAL[name])
    assert verdict.severity is None, verdict.reasons


@pytest.mark.parametrize("name", sorted(SSTI))
def test_ssti_payloads_are_critical(name: str) -> None:
    verdict = judge_template(SSTI[name])
    assert verdict.severity is Severity.CRITICAL, verdict


@pytest.mark.parametrize("name", sorted(UNPROVEN))
def test_unproven_constructs_are_medium(name: str) -> None:
    verdict = judge_template(UNPROVEN[name])
    assert verdict.severity is Severity.MEDIUM, verdict


def test_real_world_templates_render_and_payloads_really_run() -> None:
    """The corpus of templates tests the judge only if it is right: real ones render under HF's environment,
    and a payload judged CRITICAL really reaches ``os`` under a plain Jinja environment."""
    from jinja2 import Environment
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    properties = {"x": {"type": "string", "description": "an x"}}
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"properties": properties}}}
    for name, template in REAL.items():
        if name == "macro-break":
            template = template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
        for tools in ({}, {"tools": [tool]}):  # as HF passes them: only when there are some
            out = env.from_string(template).render(
                **tools,
                messages=chat,
                bos_token="<s>",
                eos_token="</s>",
                add_generation_prompt=True,
                raise_exception=raise_exception,
            )
            assert "hi" in out, name
    assert "x: str" in env.from_string(HERMES_TOOL_USE).render(messages=chat, tools=[tool])
    import os

    reached = "{{ lipsum.__globals__['os'].getcwd() }}"  # the lipsum payload's route, to a harmless call
    assert judge_template(reached).severity is Severity.CRITICAL
    assert Environment().from_string(reached).render() == os.getcwd()  # noqa: S701 (the unsandboxed loader)


def test_unparsable_template_is_medium_and_says_why() -> None:
    verdict = judge_template("{% for m in messages %}{{ m.content }")
    assert verdict.severity is Severity.MEDIUM
    assert "cannot parse" in verdict.reasons[0]


def test_oversized_template_is_medium_not_judged() -> None:
    verdict = judge_template(CHATML + " " * 300_000)
    assert verdict.severity is Severity.MEDIUM
    assert "not judged" in verdict.reasons[0]


def test_gguf_scan_reports_by_verdict() -> None:
    """Through the GGUF reader: a plain template is clean, SSTI CRITICAL, an unparsable one MEDIUM."""
    assert scan_bytes(gguf_bytes(QWEN25), "m.gguf").clean
    worst = {f.severity for f in scan_bytes(gguf_bytes(SSTI["concat-key"]), "m.gguf").findings}
    assert worst == {Severity.CRITICAL}
    fs = scan_bytes(gguf_bytes("{% if %}"), "m.gguf")
    assert [f.severity for f in fs.findings] == [Severity.MEDIUM]
    assert "cannot parse" in fs.findings[0].detail


def test_without_jinja2_templates_are_medium_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "jinja2", None)
    verdict = judge_template(CHATML)
    assert verdict.severity is Severity.MEDIUM
    assert "not judged" in verdict.reasons[0]
