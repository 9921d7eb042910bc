{
  'targets': [
    {
      'target_name': 'cassette_fs',
      'sources': ['native/cassette_fs.c'],
      'cflags': ['-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden'],
      'ldflags': ['-Wl,-z,noexecstack', '-Wl,-z,relro', '-Wl,-z,now'],
    },
  ],
}
