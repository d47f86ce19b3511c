// The page of the "starassist Chat" panel (src/chatPanel.ts): it renders the messages the extension sends and
// sends back what the user types. Model text goes into the page only through textContent, never as HTML.
// Messages in: entries {entries, busy} | add {entry} | append {id, text} | finish {entry} | busy {busy}.
// Messages out: ready | ask {text} | stop.
(function () {
  const vscode = acquireVsCodeApi();
  const list = document.getElementById('messages');
  const form = document.getElementById('ask');
  const input = document.getElementById('input');
  const stop = document.getElementById('stop');
  const texts = new Map(); // entry id -> the text shown so far

  const WHO = { user: 'You', assistant: 'starassist', note: 'starassist' };

  /** Text with ``` fences: prose as pre-wrapped text, fenced code in <pre> (the fence lines are not shown). */
  function render(body, text) {
    body.replaceChildren();
    if (!text) return;
    let block = [];
    let code = false;
    const flush = () => {
      if (!block.length) return;
      const el = document.createElement(code ? 'pre' : 'div');
      el.className = code ? 'code' : 'prose';
      el.textContent = block.join('\n');
      body.appendChild(el);
      block = [];
    };
    for (const line of text.split('\n')) {
      if (/^\s*```/.test(line)) {
        flush();
        code = !code;
      } else {
        block.push(line);
      }
    }
    flush();
  }

  function element(id) {
    return list.querySelector(`.msg[data-id="${id}"]`);
  }

  function show(entry) {
    let el = element(entry.id);
    if (!el) {
      el = document.createElement('section');
      el.dataset.id = String(entry.id);
      const who = document.createElement('div');
      who.className = 'who';
      const body = document.createElement('div');
      body.className = 'body';
      el.append(who, body);
      list.appendChild(el);
    }
    el.className = `msg ${entry.role}`;
    el.dataset.state = entry.done ? 'done' : 'streaming';
    el.querySelector('.who').textContent = WHO[entry.role] || entry.role;
    let context = el.querySelector('.context');
    if (entry.context && !context) {
      context = document.createElement('div');
      context.className = 'context';
      el.insertBefore(context, el.querySelector('.body'));
    }
    if (context) context.textContent = `with ${entry.context}`;
    texts.set(entry.id, entry.text);
    render(el.querySelector('.body'), entry.text);
    follow();
  }

  function follow() {
    list.scrollTop = list.scrollHeight;
  }

  function busy(on) {
    stop.hidden = !on;
    document.body.classList.toggle('busy', on);
  }

  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg.type === 'entries') {
      list.replaceChildren();
      texts.clear();
      msg.entries.forEach(show);
      busy(msg.busy);
    } else if (msg.type === 'add' || msg.type === 'finish') {
      show(msg.entry);
    } else if (msg.type === 'append') {
      const el = element(msg.id);
      if (!el) return;
      const text = (texts.get(msg.id) || '') + msg.text;
      texts.set(msg.id, text);
      render(el.querySelector('.body'), text);
      follow();
    } else if (msg.type === 'busy') {
      busy(msg.busy);
    }
  });

  function send() {
    const text = input.value.trim();
    if (!text) return;
    vscode.postMessage({ type: 'ask', text });
    input.value = '';
    vscode.setState({ draft: '' });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  // A draft survives the panel being hidden (its page is rebuilt when shown again).
  input.addEventListener('input', () => vscode.setState({ draft: input.value }));
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));

  input.value = (vscode.getState() || {}).draft || '';
  input.focus();
  vscode.postMessage({ type: 'ready' });
})();
