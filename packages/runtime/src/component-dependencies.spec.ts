import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { reachedComponents, requiredComponents } from './component-dependencies.js';
import { Component } from './component.decorator.js';
import { InjectComponent } from './depends.js';

@Component({ name: 'extra' })
class Extra {}

@Component({ name: 'leaf' })
class Leaf {
  constructor(@InjectComponent(Extra, { optional: true }) readonly extra: unknown) {}
}

@Component({ name: 'middle' })
class Middle {
  constructor(
    @InjectComponent(Leaf) readonly leaf: unknown,
    @InjectComponent(Extra, { optional: true }) readonly extra: unknown,
  ) {}
}

class Entry {
  constructor(@InjectComponent(Middle) readonly middle: unknown) {}
}

describe('requiredComponents', () => {
  it('follows @InjectComponent() from an entry point that is no component, skipping optional ones', () => {
    expect(requiredComponents([Entry]).map((component) => component.name)).toEqual(['middle', 'leaf']);
  });

  it('includes a root that is a component, once, and an optional one when it is a root itself', () => {
    expect(requiredComponents([Leaf, Middle, Extra]).map((component) => component.name)).toEqual([
      'leaf',
      'middle',
      'extra',
    ]);
  });
});

describe('reachedComponents', () => {
  it('names apart the components reached only through an optional dependency', () => {
    const { required, optional } = reachedComponents([Entry]);
    expect(required.map((component) => component.name)).toEqual(['middle', 'leaf']);
    expect(optional.map((component) => component.name)).toEqual(['extra']);
  });

  it('counts a component as required when any path needs it', () => {
    expect(reachedComponents([Entry, Extra]).optional).toEqual([]);
  });
});
