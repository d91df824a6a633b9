// The workspace config, plus the syntax k6 0.48's babel cannot parse, refused in k6/.
import root from "../../eslint.config.js";

export default [
  ...root,
  {
    files: ["k6/**/*.js"],
    languageOptions: {
      globals: { __ENV: "readonly", __VU: "readonly", __ITER: "readonly", console: "readonly", open: "readonly" },
    },
    rules: {
      "no-restricted-syntax": [
        "error",
        { selector: "LogicalExpression[operator='??']", message: "k6 0.48 cannot parse `??`; use `||` or a check." },
        { selector: "ChainExpression", message: "k6 0.48 cannot parse `?.`; check each step." },
        {
          selector: "ObjectExpression > SpreadElement",
          message: "k6 0.48 cannot parse object spread; use Object.assign.",
        },
        { selector: "ObjectPattern > RestElement", message: "k6 0.48 cannot parse object rest." },
      ],
    },
  },
];
