//! A tiny tokenizer for arithmetic expressions and an evaluator on top of it.

use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64),
    Ident(String),
    Op(char),
    LParen,
    RParen,
}

#[derive(Debug)]
pub enum EvalError {
    UnexpectedChar(char),
    UnknownVariable(String),
    Unbalanced,
    DivisionByZero,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::UnexpectedChar(c) => write!(f, "unexpected character {:?}", c),
            EvalError::UnknownVariable(name) => write!(f, "unknown variable {}", name),
            EvalError::Unbalanced => write!(f, "unbalanced parentheses"),
            EvalError::DivisionByZero => write!(f, "division by zero"),
        }
    }
}

pub fn tokenize(input: &str) -> Result<Vec<Token>, EvalError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token::Number(text.parse().map_err(|_| EvalError::UnexpectedChar(c))?));
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if "+-*/".contains(c) {
            tokens.push(Token::Op(c));
            i += 1;
        } else if c == '(' {
            tokens.push(Token::LParen);
            i += 1;
        } else if c == ')' {
            tokens.push(Token::RParen);
            i += 1;
        } else {
            return Err(EvalError::UnexpectedChar(c));
        }
    }
    Ok(tokens)
}

pub struct Evaluator {
    vars: HashMap<String, f64>,
}

impl Evaluator {
    pub fn new() -> Self {
        Evaluator { vars: HashMap::new() }
    }

    pub fn set(&mut self, name: &str, value: f64) {
        self.vars.insert(name.to_string(), value);
    }

    pub fn apply(op: char, a: f64, b: f64) -> Result<f64, EvalError> {
        match op {
            '+' => Ok(a + b),
            '-' => Ok(a - b),
            '*' => Ok(a * b),
            '/' if b == 0.0 => Err(EvalError::DivisionByZero),
            '/' => Ok(a / b),
            _ => Err(EvalError::UnexpectedChar(op)),
        }
    }
}
