"""E-mails from templates that managers write and preview: a sandboxed Jinja environment.

A template is its subject line, then the body::

    Subject: {{ customer_name }}, we would love to have you back

    Hello {{ customer_name }}, ...

The body makes the plain-text part, and the HTML part is that text escaped (a value or the
template can hold no markup), with blank lines as paragraphs and web addresses as links.
The sandbox lets a template use the values it is given and Jinja's own tests and filters,
nothing else: no attributes that reach Python's internals, no files. A name it does not
know is an error naming the name, never a blank. docs/outreach.md lists the values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from winback.errors import InvalidInput

# The values every template may use (each e-mail's context gives them all).
CONTEXT_KEYS = (
    "customer_name",
    "offer_text",
    "code",
    "unsubscribe_url",
    "business_name",
    "reasons",
)
# What a preview fills them with.
SAMPLE_CONTEXT: Mapping[str, Any] = {
    "customer_name": "Alex Example",
    "offer_text": "Here is 15% off your next order, on us.",
    "code": "COMEBACK15",
    "unsubscribe_url": "https://desk.example.com/unsubscribe/sample-token",
    "business_name": "Acme Coffee",
    "reasons": ["delivery"],
}
MAX_TEMPLATE = 20_000  # characters a template may have
MAX_OUTPUT = 100_000  # characters one rendered body may have
# A web address in escaped text: up to a space, a tag or an entity other than &amp;.
_LINK = re.compile(r"https?://(?:[^\s<>&]|&amp;)+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def default_template() -> str:
    """The built-in win-back e-mail (subject and body)."""
    return files("winback.desk").joinpath("email_templates/winback.txt").read_text("utf-8")


# The built-in template's text, read once (what a campaign without its own template uses).
DEFAULT_TEMPLATE = default_template()


def _split(template_text: str) -> tuple[str, str, int]:
    """(subject template, body template, the body's first line number)."""
    if not isinstance(template_text, str) or not template_text.strip():
        raise InvalidInput("template: give the e-mail's text, starting with a 'Subject:' line")
    if len(template_text) > MAX_TEMPLATE:
        raise InvalidInput(
            f"template: {len(template_text):,} characters; keep it under {MAX_TEMPLATE:,}"
        )
    text = template_text.replace("\r\n", "\n").lstrip("\n")
    first, _, body = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise InvalidInput(
            "template line 1: start with the subject, such as 'Subject: We miss you, "
            "{{ customer_name }}', then a blank line, then the body"
        )
    subject = first[len("subject:") :].strip()
    if not subject:
        raise InvalidInput("template line 1: the subject is empty; write it after 'Subject:'")
    offset = 1
    if body.startswith("\n"):
        body, offset = body[1:], 2
    if not body.strip():
        raise InvalidInput("template: the body is empty; write it after the subject line")
    return subject, body, offset


def _render(source: str, context: Mapping[str, Any], *, line_offset: int) -> str:
    where = "subject" if line_offset == 0 else "template"
    try:
        template = _environment().from_string(source)
        parts: list[str] = []
        size = 0
        for part in template.generate(**context):
            parts.append(part)
            size += len(part)
            if size > MAX_OUTPUT:
                raise InvalidInput(
                    f"{where}: the e-mail comes out longer than {MAX_OUTPUT:,} characters; "
                    "check the template's loops"
                )
        return "".join(parts)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 1) + line_offset
        raise InvalidInput(f"template line {line}: {exc.message}") from None
    except UndefinedError as exc:
        raise InvalidInput(
            f"{where}: {exc.message}; the values you can use are {', '.join(CONTEXT_KEYS)}"
        ) from None
    except SecurityError as exc:
        raise InvalidInput(
            f"{where}: not allowed in an e-mail template ({exc}); use only the e-mail's values"
        ) from None
    except TemplateError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise InvalidInput(f"{where}: {type(exc).__name__}: {exc}") from None


def _tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one newline at the end."""
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def _as_html(text: str) -> str:
    """Plain text as HTML, every character of it escaped: paragraphs at blank lines, line
    breaks, and web addresses as links."""
    paragraphs = []
    for block in str(escape(text)).strip("\n").split("\n\n"):
        linked = _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', block)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"></head>\n<body>\n'
        + "\n".join(paragraphs)
        + "\n</body></html>\n"
    )


def render_email(template_text: str, context: Mapping[str, Any]) -> RenderedEmail:
    """``template_text`` filled in with ``context``: subject, plain text and HTML. A
    template problem (bad syntax, an unknown name, something the sandbox forbids) raises
    InvalidInput naming the line or the name."""
    subject_source, body_source, offset = _split(template_text)
    values = dict(context)
    subject = _render(subject_source, values, line_offset=0)
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput("subject: it comes out empty for this customer; check its values")
    text = _tidy(_render(body_source, values, line_offset=offset))
    return RenderedEmail(subject=subject[:900], text=text, html=_as_html(text))


def preview(template_text: str, context: Mapping[str, Any] | None = None) -> RenderedEmail:
    """The e-mail as a sample customer would get it (``SAMPLE_CONTEXT``, with ``context``'s
    values over it): what a manager sees before saving a template."""
    return render_email(template_text, {**SAMPLE_CONTEXT, **(context or {})})
