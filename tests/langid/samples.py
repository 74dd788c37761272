"""Files whose names alone do not decide among the 338 names: a name plus short content each.

Written for these tests. Each exercises the rule that picks the language when the extension is
shared: one of linguist's content heuristics, a shebang, or an editor modeline.
"""

from __future__ import annotations

CONTENT_SAMPLES: dict[str, tuple[str, bytes]] = {
    "AGS Script": ("room.asc", b'// room script file\nfunction room_Load()\n{\n  player.Say("hi");\n}\n'),
    "ActionScript": (
        "Main.as",
        b"package com.example {\n  import flash.display.Sprite;\n  public class Main extends Sprite {}\n}\n",
    ),
    "Asymptote": ("plot.asy", b"import graph;\nsize(200);\ndraw((0,0)--(1,1));\n"),
    "BST": (
        "plain.bst",
        b"% -*- mode: bst -*-\nENTRY { author title } {} { label }\nFUNCTION {output.bibitem} { newline$ }\n",
    ),
    "Brainfuck": (
        "hello.b",
        b"++++++++[>++++[>++>+++>+++>+<<<<-]>+>+>->>+[<]<-]>>.>---.+++++++..+++.>>.<-.<.+++.------.--------.>>+.\n",
    ),
    "COBOLFree": ("pay.cbl", b"      * vim: set ft=cobolfree:\nIDENTIFICATION DIVISION.\nPROGRAM-ID. PAY.\n"),
    "Debian Control File": (
        "control",
        b"Source: hello\nSection: devel\nPriority: optional\nMaintainer: A <a@example.org>\n",
    ),
    "Eiffel": (
        "app.e",
        b'class\n  APPLICATION\ncreate\n  make\nfeature\n  make\n    do\n      print ("hi")\n    end\nend\n',
    ),
    "FoxPro": ("main.prg", b"* vim: set ft=foxpro:\nLOCAL lnCount\nlnCount = 0\n"),
    "GAS": ("start.s", b"\t.text\n\t.globl _start\n_start:\n\tmovl $1, %eax\n\tret\n"),
    "GDScript": ("player.gd", b"extends Node2D\n\nvar speed = 10\n\nfunc _ready():\n\tpass\n"),
    "JSONiq": ("q.jq", b'jsoniq version "1.0";\nfor $x in collection("c") return $x\n'),
    "Jasmin": (
        "Hello.j",
        b".class public Hello\n.super java/lang/Object\n.method public static main([Ljava/lang/String;)V\n  return\n.end method\n",
    ),
    "K": ("f.k", b"/ -*- mode: k -*-\nf:{x+y}\n"),
    "Limbo": (
        "hello.b",
        b'implement Hello;\n\ninclude "sys.m";\n\tsys: Sys;\n\nHello: module\n{\n\tinit: fn(nil: ref Draw->Context, nil: list of string);\n};\n',
    ),
    "M4": ("defs.m4", b"dnl vim: set ft=m4:\ndefine(`HELLO', `world')dnl\n"),
    "MiniScript": ("game.ms", b"f = function(x)\n  return x * 2\nend function\nprint f(3)\n"),
    "Modelica": ("Tank.mo", b"model Tank\n  Real h(start=1);\nequation\n  der(h) = -0.1*h;\nend Tank;\n"),
    "Modula-2": (
        "Hello.mod",
        b'MODULE Hello;\nFROM InOut IMPORT WriteString;\nBEGIN\n  WriteString("hi")\nEND Hello.\n',
    ),
    "MooCode": ("verb.moo", b'@program #1:look\nplayer:tell("hi");\n.\n'),
    "NCL": ("plot.ncl", b'load "$NCARG_ROOT/lib/ncarg/nclscripts/csm/gsn_code.ncl"\nbegin\n  a = 1\nend\n'),
    "Objective-C": (
        "View.m",
        b"#import <Foundation/Foundation.h>\n@interface View : NSObject\n@end\n@implementation View\n@end\n",
    ),
    "Objective-C++": (
        "Bridge.mm",
        b"#import <Foundation/Foundation.h>\n#include <vector>\n@interface Bridge : NSObject\n@end\n",
    ),
    "Octave": ("f.m", b"% -*- mode: octave -*-\nfunction y = f(x)\n  y = x + 1;\nendfunction\n"),
    "Odin": ("main.odin", b'package main\n\nimport "core:fmt"\n\nmain :: proc() {\n\tfmt.println("hi")\n}\n'),
    "OpenEdge ABL": (
        "cust.p",
        b"DEFINE VARIABLE x AS INTEGER NO-UNDO.\nFOR EACH Customer NO-LOCK:\n  DISPLAY Customer.Name.\nEND.\n",
    ),
    "POD": ("doc.pod", b"=head1 NAME\n\nFoo - does things\n\n=head1 SYNOPSIS\n\n  use Foo;\n\n=cut\n"),
    "Q": ("t.q", b"/ -*- mode: q -*-\nt:([] a:1 2 3; b:`x`y`z)\nselect from t where a>1\n"),
    "Rd": ("f.Rd", b"\\name{f}\n\\alias{f}\n\\title{An f}\n\\usage{f(x)}\n"),
    "Ren'Py": ("script.rpy", b'label start:\n    "Hello."\n    return\n'),
    "S": ("model.S", b"# -*- mode: S -*-\nx <- c(1, 2, 3)\nmean(x)\n"),
    "Smarty": ("page.tpl", b'{extends file="layout.tpl"}\n{block name=body}{$title|escape}{/block}\n'),
    "Solidity": ("Token.sol", b"pragma solidity ^0.8.0;\n\ncontract Token {\n  uint256 public supply;\n}\n"),
    "SuperCollider": ("synth.sc", b"SynthDef(\\sine, { |freq = 440| Out.ar(0, SinOsc.ar(freq)) }).add;\n"),
    "Transact-SQL": (
        "proc.sql",
        b"CREATE PROCEDURE dbo.GetAll\nAS\nBEGIN\n  SET NOCOUNT ON;\n  SELECT TOP 10 * FROM [dbo].[Users];\nEND\nGO\n",
    ),
    "UnrealScript": ("Pawn.uc", b"class MyPawn extends Pawn\n  config(Game);\n\ndefaultproperties\n{\n}\n"),
}
