#!/usr/bin/env python3
"""Write random configuration files and scenarios for differential testing.

    random_corpus.py files DIR SEED COUNT       DIR/fNNNNN.conf, DIR/cNNNNN.conf
    random_corpus.py scenarios DIR SEED COUNT   DIR/sNNNN/ with args.txt

The files are built from what matters to oslo.config's reader: every kind of
line, whitespace that only Python strips, quotes, both separators, `$`
references (cycles, groups, dotted names), case variants of sections, and
now and then a byte that is not UTF-8. Run oracle.py regen (files) or
regen-scenario (each scenario folder) on the output to get the expected
results, then the corpus test with OSLO_CORPUS_DIRS. Needs only Python 3.
"""

import os
import random
import sys

WHITESPACE = [' ', '\t', '\x0c', '\x0b', '\x1c', '\x1f', '\xa0', '\u3000',
              '\x85', '\u2028', '\u200b', '\ufeff', '']
LINE_ENDS = ['\n', '\n', '\n', '\r\n', '\r']
NAMES = ['a', 'b', 'my_ip', 'host', 'vnc', 'database', 'DEFAULT', 'default',
         '_x', 'config_file', 'config_dir', 'g.x', 'A', '\u017fx', 'K', 'x-y']
HEADERS = ['[DEFAULT]', '[default]', '[vnc]', '[Vnc]', '[database]',
           '[ database ]', '[g]', '[x] # c', '[', '[]', '[[a]]',
           '\ufeff[DEFAULT]', '[a:b]', '[g.x]']
CHAOS = list(' \t\r\n=:[]#;"\'$${}._aZ0\x0c\x0b\x1c\x85\xa0\u2028\u3000'
             '\ufeff\u017f')


def maybe_space():
    return random.choice(WHITESPACE) if random.random() < 0.3 else ''


def reference(names):
    name = random.choice(names)
    other = random.choice(names)
    return random.choice([
        '$' + name, '${' + name + '}', '$$', '\\$', '${', '$', '${}',
        '$' + name + '.' + other, '${' + name + '.' + other + '}',
        '${DEFAULT.a}', '$9', '$' + name + '-z', '${' + name,
    ])


def value(names):
    pieces = ['x', '1', ' ', '=', ':', '#', ';', '"', "'", 'http://h:5/?a=b',
              '%(x)s']
    parts = []
    for _ in range(random.randint(0, 4)):
        parts.append(random.choice(pieces + [reference(names)] * 2
                                   + [maybe_space()]))
    text = ''.join(parts)
    if random.random() < 0.2:
        quote = random.choice(['"', "'"])
        text = quote + text + quote
    return text


def line():
    roll = random.random()
    if roll < 0.12:
        return random.choice(HEADERS) + maybe_space()
    if roll < 0.2:
        return random.choice(['#', ';', ' #', '\t;']) + ' comment'
    if roll < 0.28:
        return maybe_space()
    if roll < 0.4:
        return random.choice([' ', '\t', '  ']) + value(NAMES) + maybe_space()
    if roll < 0.43:
        return 'bare word'
    if roll < 0.45:
        return random.choice(['=', ':', ' = x']) + value(NAMES)
    key = maybe_space() + random.choice(NAMES) + maybe_space()
    separator = random.choice(['=', ' = ', ':', ': ', '=  '])
    return key + separator + value(NAMES) + maybe_space()


def structured_file():
    lines = []
    if random.random() < 0.85:
        lines.append(random.choice(['[DEFAULT]', '[vnc]', '[g]']))
    lines += [line() for _ in range(random.randint(0, 25))]
    text = ''.join(each + random.choice(LINE_ENDS) for each in lines)
    if text and random.random() < 0.3:
        text = text[:-1]
    data = text.encode('utf-8')
    if random.random() < 0.03:
        at = random.randint(0, len(data))
        data = data[:at] + b'\xe9' + data[at:]
    return data


def chaotic_file():
    text = ''.join(random.choice(CHAOS) for _ in range(random.randint(0, 80)))
    if random.random() < 0.7:
        text = '[DEFAULT]\n' + text
    return text.encode('utf-8')


SCENARIO_NAMES = ['a', 'b', 'my_ip', 'host', 'vnc', 'database', 'x.y',
                  '_hidden', 'debug', 'Debug']
SCENARIO_HEADERS = ['[DEFAULT]', '[default]', '[vnc]', '[Vnc]', '[VNC]',
                    '[database]', '[Database]', '[x]']


def scenario_file(broken):
    lines = [random.choice(SCENARIO_HEADERS)]
    for _ in range(random.randint(0, 8)):
        roll = random.random()
        if roll < 0.2:
            lines.append(random.choice(SCENARIO_HEADERS))
        elif roll < 0.25:
            lines.append('')
        elif roll < 0.3:
            lines.append('  ' + value(SCENARIO_NAMES))
        else:
            lines.append(random.choice(SCENARIO_NAMES)
                         + random.choice([' = ', '=', ': '])
                         + value(SCENARIO_NAMES))
    if broken:
        lines.insert(random.randint(0, len(lines)),
                     random.choice(['[broken', 'bare', '  cont']))
    return '\n'.join(lines) + '\n'


def write_scenario(folder):
    os.makedirs(os.path.join(folder, 'conf.d'), exist_ok=True)
    args = []
    for name in ['one.conf', 'two.conf', 'three.conf'][:random.randint(1, 3)]:
        with open(os.path.join(folder, name), 'w') as f:
            f.write(scenario_file(random.random() < 0.05))
        args += ['--config-file', name]
    in_dir = ['10-a.conf', 'Z.conf', 'a.conf', '.dot.conf', 'x.ini', 'b.conf']
    for name in random.sample(in_dir, random.randint(0, 4)):
        with open(os.path.join(folder, 'conf.d', name), 'w') as f:
            f.write(scenario_file(random.random() < 0.03))
    if random.random() < 0.8:
        at = random.randint(0, len(args) // 2) * 2
        args[at:at] = ['--config-dir', 'conf.d']
    with open(os.path.join(folder, 'args.txt'), 'w') as f:
        f.write('\n'.join(args) + '\n')


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ('files', 'scenarios'):
        sys.exit(__doc__)
    kind, folder, seed, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    random.seed(int(seed))
    os.makedirs(folder, exist_ok=True)
    for i in range(int(count)):
        if kind == 'scenarios':
            write_scenario(os.path.join(folder, 's%04d' % i))
            continue
        for prefix, make in (('f', structured_file), ('c', chaotic_file)):
            with open(os.path.join(folder, '%s%05d.conf' % (prefix, i)), 'wb') as f:
                f.write(make())


if __name__ == '__main__':
    main()
