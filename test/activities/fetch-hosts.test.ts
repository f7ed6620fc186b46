import test from 'ava';
import { hostAllowed } from '../../activities/media.js';

test('the content-server allowlist matches names, wildcard suffixes, IPs and CIDRs', (t) => {
  t.true(hostAllowed('http://anything.example/x', []), 'an empty list allows any host');
  const allow = ['ft.operator.example', '*.cdn.example', '10.1.0.0/16', '::1'];
  t.true(hostAllowed('https://ft.operator.example/f', allow));
  t.true(hostAllowed('https://a.b.cdn.example/f', allow));
  t.true(hostAllowed('http://10.1.2.3:8080/f', allow));
  t.true(hostAllowed('http://[::1]/f', allow));
  t.false(hostAllowed('http://127.0.0.1:7233/', allow), 'internal services stay out of reach');
  t.false(hostAllowed('http://evil.example/ft.operator.example', allow));
  t.false(hostAllowed('http://cdn.example.evil/', allow));
  t.false(hostAllowed('not a url', allow));
});
