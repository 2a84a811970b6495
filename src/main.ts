#!/usr/bin/env node
// `npm start`: the service, configured from the environment.
import { serve } from './serve.js';

await serve();
